"""The replay file format, byte by byte (docs/REPLAY.md): header, framed records, payload codecs.

Everything here is pure: it turns values into bytes and back. ``writer.py`` adds the background
thread, ``reader.py`` the file walking and error policy, ``verify.py`` the re-simulation.

All integers are little-endian. Decoders raise ``FormatError`` (a ``ReplayError``) and nothing
else for any byte content.
"""
from __future__ import annotations

import enum
import struct
import zlib
from typing import Any

import attrs
import msgpack
import numpy as np

MAGIC = b"NCREPLAY"
FORMAT_VERSION = 2  # 2: the header names the game (netcode.game) and TICKS carry its input records
SUFFIX = ".ncr"

PREFIX = struct.Struct("<8sHI")  # magic, format version, header map length
HEADER_CRC = struct.Struct("<I")  # crc32 of the header map bytes
RECORD = struct.Struct("<IBI")  # payload length, kind, crc32(length, kind, payload)
MAX_HEADER = 1 << 20
MAX_RECORD = 1 << 30

TICKS_HDR = struct.Struct("<QHHBI")  # first tick, tick count, active slots, change stream codec, its stored length
JOIN_HDR = struct.Struct("<QH")  # tick, slot; the player's name (utf-8) follows
LEAVE = struct.Struct("<QH")  # tick, slot
CHECKSUM_HDR = struct.Struct("<QHHB")  # first tick, every, count, width (bytes per value)
KEYFRAME_HDR = struct.Struct("<QBI")  # tick, codec, uncompressed length
SEGMENT = struct.Struct("<IB")  # keyframe codec 2: segment length, item size
VIEWS_HDR = struct.Struct("<QIB")  # tick of the first entry, entry count, codec of the entries
# VIEWS columns (each stored as byte planes: all low bytes, then all high bytes).
VIEW_COLUMNS = (("step", "<u2"), ("slot", "<u2"), ("code", "u1"), ("back", "<u2"), ("frac", "<u2"), ("span", "<u2"))
VIEW_CLAIM = struct.Struct("<IH")  # claimed view tick, claimed frac (when the status byte says so)
VIEW_HIT = struct.Struct("<I")  # what the shot hit + 1 (when the status byte says so)
END_HDR = struct.Struct("<QBI")  # final tick, flags, keyframe count
END_ENTRY = struct.Struct("<QQ")  # keyframe tick, file offset of its record

# Block codecs (TICKS bodies, KEYFRAME data, msgpack records).
STORED = 0
DEFLATE = 1  # raw deflate (zlib wbits -15)
DEFLATE_PLANES = 2  # KEYFRAME only: deflate of the world bytes split into byte planes per segment

END_CLEAN = 1



class ReplayError(Exception):
    """A file that is not a usable replay. ``str()`` is one sentence meant for the user."""


class FormatError(ReplayError):
    """A record or header whose bytes do not decode."""


class Kind(enum.IntEnum):
    TICKS = 1
    JOIN = 2
    LEAVE = 3
    CHECKSUM = 4
    KEYFRAME = 5
    EVENT = 6
    AUDIT = 7
    END = 8
    VIEWS = 9  # the lag-compensation view each shot was resolved against (re-simulates rewound shots)


KIND_NAMES = {k.value: k.name for k in Kind}


def kind_name(kind: int) -> str:
    return KIND_NAMES.get(kind, f"kind{kind}")


# ---------------------------------------------------------------------------------------- framing


def frame(kind: int, payload: bytes) -> bytes:
    """One record: header (length, kind, crc32 over length+kind+payload) and payload."""
    head = struct.pack("<IB", len(payload), kind)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack("<I", crc) + payload


def record_crc(length: int, kind: int, payload: bytes) -> int:
    return zlib.crc32(payload, zlib.crc32(struct.pack("<IB", length, kind)))


def encode_header(fields: dict[str, Any]) -> bytes:
    body = msgpack.packb(fields, use_bin_type=True, default=_msgpack_default)
    if len(body) > MAX_HEADER:
        raise ValueError("replay header too large")
    return PREFIX.pack(MAGIC, FORMAT_VERSION, len(body)) + body + HEADER_CRC.pack(zlib.crc32(body))


# ---------------------------------------------------------------------------------------- codecs


def deflate(data: bytes, level: int = 9) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 9)
    return c.compress(data) + c.flush()


def inflate(data: bytes, limit: int) -> bytes:
    """Raw inflate of at most ``limit`` bytes; anything else (corrupt, longer, unfinished) is a FormatError."""
    d = zlib.decompressobj(-15)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise FormatError(f"corrupt compressed data ({e})") from None
    if len(out) > limit or d.unconsumed_tail:
        raise FormatError("compressed data longer than declared")
    if not d.eof:
        raise FormatError("compressed data is truncated")
    if d.unused_data:
        raise FormatError("trailing bytes after compressed data")
    return out


def pack_best(body: bytes) -> tuple[int, bytes]:
    """(codec, bytes): deflate when it saves space, else stored."""
    if len(body) < 16:
        return STORED, body
    z = deflate(body)
    return (DEFLATE, z) if len(z) < len(body) else (STORED, body)


def _msgpack_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if attrs.has(type(obj)):
        return attrs.asdict(obj, recurse=True)
    return repr(obj)


def pack_items(items: list) -> bytes:
    """msgpack of a list; numpy scalars/arrays become ints/lists, unknown objects their repr."""
    return msgpack.packb(items, default=_msgpack_default, use_bin_type=True)


def encode_msgpack_record(packed_items: list[bytes]) -> bytes:
    """EVENT/AUDIT payload: codec byte + (maybe deflated) msgpack array of already-packed items."""
    n = len(packed_items)
    if n < 16:
        head = bytes([0x90 | n])
    elif n < 1 << 16:
        head = b"\xdc" + struct.pack(">H", n)
    else:
        head = b"\xdd" + struct.pack(">I", n)
    codec, body = pack_best(head + b"".join(packed_items))
    return bytes([codec]) + body


def decode_msgpack_record(payload: bytes) -> list:
    if not payload:
        raise FormatError("empty record")
    codec, body = payload[0], payload[1:]
    if codec == DEFLATE:
        body = inflate(body, 64 << 20)
    elif codec != STORED:
        raise FormatError(f"unknown codec {codec}")
    try:
        items = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises many types (ExtraData, FormatError, StackError, ValueError, ...)
        raise FormatError(f"bad msgpack ({type(e).__name__})") from None
    if not isinstance(items, list):
        raise FormatError("msgpack record is not a list")
    return items


# ---------------------------------------------------------------------------------------- records


@attrs.frozen
class TickBlock:
    """Inputs of ``count`` consecutive ticks starting at ``first_tick`` for ``n_slots`` active slots."""

    first_tick: int
    count: int
    n_slots: int
    masks: bytes  # count * ceil(n_slots / 8) bytes: bit j of a tick's mask = the j-th active slot changed
    changes: bytes  # one byte per change (netcode/replay/inputs.py)
    ext: bytes  # extension stream

    @property
    def last_tick(self) -> int:
        return self.first_tick + self.count - 1

    def changed_rows(self) -> list[list[int]]:
        """Per tick, the indices (into the sorted active slots) of the slots whose input changed."""
        n, mlen = self.n_slots, (self.n_slots + 7) // 8
        if not n:
            return [[] for _ in range(self.count)]
        bits = np.unpackbits(np.frombuffer(self.masks, dtype=np.uint8).reshape(self.count, mlen), axis=1,
                             bitorder="little")
        return [np.flatnonzero(row).tolist() for row in bits[:, :n]]


@attrs.frozen
class Join:
    tick: int
    slot: int
    name: str


@attrs.frozen
class Leave:
    tick: int
    slot: int


@attrs.frozen
class Checksums:
    """State checksums of ticks ``first_tick + i * every``; ``width`` 4 = full crc32, 2 = its low 16 bits."""

    first_tick: int
    every: int
    width: int
    values: tuple[int, ...]

    def ticks(self) -> range:
        return range(self.first_tick, self.first_tick + self.every * len(self.values), self.every)

    @property
    def mask(self) -> int:
        return (1 << (8 * self.width)) - 1


@attrs.frozen
class Keyframe:
    """The world right after the step that produced ``tick`` (the game's ``world_to_bytes``), decompressed lazily."""

    tick: int
    codec: int
    raw_len: int
    data: bytes

    def world_bytes(self, limit: int | None = None) -> bytes:
        """The world bytes; ``limit`` (the most a reader accepts) is checked before anything is decompressed."""
        if limit is not None and self.raw_len > limit:
            raise FormatError(f"keyframe of {self.raw_len} bytes, more than the {limit} this reader accepts")
        return decode_keyframe_data(self.codec, self.raw_len, self.data)


@attrs.frozen
class Items:
    """EVENT or AUDIT: a list of msgpack items (``[tick, kind, data]`` for events, ``[tick, [dicts]]`` for audits)."""

    kind: int
    items: list


VIEW_STATUSES = ("off", "ok", "clamped", "future")
STATUS_CLAIM = 0x80  # status byte flag: a claim (view tick, frac) other than the applied view follows
STATUS_NO_CLAIM = 0x40  # status "ok" whose claim is absent (not the applied view itself)
STATUS_HIT = 0x20  # status byte flag: the shot's outcome follows (its view predates the last keyframe)


@attrs.frozen
class ShotView:
    """The view (``view_tick + frac / 65536 * span`` ticks) a shot fired at ``tick`` by ``slot`` was resolved
    against (netcode.rewind.AppliedView), with the client's raw claim and, when its view predates the
    last keyframe (a re-simulation started there has no hitbox history for it), what it hit (-1: nothing)."""

    tick: int
    slot: int
    status: str
    view_tick: int
    frac: int
    span: int
    claimed: tuple[int, int] | None
    hit: int | None = None


@attrs.frozen
class Views:
    entries: tuple[ShotView, ...]


@attrs.frozen
class End:
    final_tick: int
    clean: bool
    keyframes: tuple[tuple[int, int], ...]  # (tick, record offset)


@attrs.frozen
class Unknown:
    kind: int
    payload: bytes


Record = TickBlock | Join | Leave | Checksums | Keyframe | Items | Views | End | Unknown


def encode_ticks(first_tick: int, count: int, n_slots: int, masks: bytes, changes: bytes, ext: bytes) -> bytes:
    """TICKS payload: header, masks (stored), change stream (Huffman-coded when that is smaller), ext (stored).

    The masks and extension stream are close to random bits; deflate's Huffman stage (without
    LZ matching, which only adds cost here) is what shrinks the skewed residuals of the change stream.
    """
    codec, data = STORED, changes
    if len(changes) >= 32:
        c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_HUFFMAN_ONLY)
        z = c.compress(changes) + c.flush()
        if len(z) < len(changes):
            codec, data = DEFLATE, z
    return TICKS_HDR.pack(first_tick, count, n_slots, codec, len(data)) + masks + data + ext


def encode_join(tick: int, slot: int, name: str) -> bytes:
    return JOIN_HDR.pack(tick, slot) + name.encode("utf-8", "replace")[:255]


def encode_leave(tick: int, slot: int) -> bytes:
    return LEAVE.pack(tick, slot)


def encode_checksums(first_tick: int, every: int, width: int, values: list[int]) -> bytes:
    mask = (1 << (8 * width)) - 1
    arr = np.asarray([v & mask for v in values], dtype="<u4" if width == 4 else "<u2")
    return CHECKSUM_HDR.pack(first_tick, every, len(values), width) + arr.tobytes()


def keyframe_segments(raw_len: int, layout: list[tuple[int, int]] | None) -> list[tuple[int, int]]:
    """How the world's bytes split into arrays, for byte planes: the game's ``world_layout`` when it gives one
    that adds up, else one segment (any split is lossless)."""
    if layout and sum(size for size, _ in layout) == raw_len and all(item >= 1 for _, item in layout):
        return [(int(size), int(item)) for size, item in layout]
    return [(raw_len, 1)]


def _planes(data: bytes, segs: list[tuple[int, int]], inverse: bool) -> bytes:
    arr = np.frombuffer(data, dtype=np.uint8)
    out = np.empty_like(arr)
    off = 0
    for size, item in segs:
        seg = arr[off:off + size]
        if item > 1 and size % item == 0:
            if inverse:
                seg = seg.reshape(item, -1).T
            else:
                seg = seg.reshape(-1, item).T
            out[off:off + size] = seg.reshape(-1)
        else:
            out[off:off + size] = seg
        off += size
    return out.tobytes()


def encode_keyframe(tick: int, world_bytes: bytes, layout: list[tuple[int, int]] | None = None) -> bytes:
    segs = keyframe_segments(len(world_bytes), layout)
    table = struct.pack("<H", len(segs)) + b"".join(SEGMENT.pack(s, i) for s, i in segs)
    return KEYFRAME_HDR.pack(tick, DEFLATE_PLANES, len(world_bytes)) + table + deflate(
        _planes(world_bytes, segs, False), 9)


def decode_keyframe_data(codec: int, raw_len: int, data: bytes) -> bytes:
    if codec == STORED:
        out = data
    elif codec == DEFLATE:
        out = inflate(data, raw_len)
    elif codec == DEFLATE_PLANES:
        if len(data) < 2:
            raise FormatError("keyframe segment table is truncated")
        (n,) = struct.unpack_from("<H", data)
        end = 2 + n * SEGMENT.size
        if len(data) < end:
            raise FormatError("keyframe segment table is truncated")
        segs = [SEGMENT.unpack_from(data, 2 + i * SEGMENT.size) for i in range(n)]
        if sum(s for s, _ in segs) != raw_len or any(i == 0 for _, i in segs):
            raise FormatError("keyframe segment table does not add up")
        flat = inflate(data[end:], raw_len)
        if len(flat) != raw_len:
            raise FormatError("keyframe length mismatch")
        out = _planes(flat, segs, True) if raw_len else b""
    else:
        raise FormatError(f"unknown keyframe codec {codec}")
    if len(out) != raw_len:
        raise FormatError("keyframe length mismatch")
    return out


def encode_views(entries: list[tuple]) -> bytes:
    """VIEWS payload from (tick, slot, status, view_tick, frac, span, claimed, hit) tuples in tick order;
    ``hit`` None when the outcome need not be stored."""
    n = len(entries)
    cols = {name: np.empty(n, dtype=dt) for name, dt in VIEW_COLUMNS}
    extra = bytearray()
    prev = entries[0][0]
    for i, (tick, slot, status, vt, frac, span, claimed, hit) in enumerate(entries):
        code = VIEW_STATUSES.index(status)
        implied = status == "ok" and claimed == (vt, frac)
        if claimed is not None and not implied:
            code |= STATUS_CLAIM
        if status == "ok" and not implied:
            code |= STATUS_NO_CLAIM
        if hit is not None:
            code |= STATUS_HIT
        cols["step"][i], cols["slot"][i], cols["code"][i] = tick - prev, slot, code
        cols["back"][i], cols["frac"][i], cols["span"][i] = tick - vt, frac, span
        if code & STATUS_CLAIM:
            extra += VIEW_CLAIM.pack(claimed[0] & 0xFFFFFFFF, claimed[1])
        if code & STATUS_HIT:
            extra += VIEW_HIT.pack(hit + 1)
        prev = tick
    body = b"".join(_byte_planes(cols[name]) for name, _ in VIEW_COLUMNS) + bytes(extra)
    codec, body = pack_best(body)
    return VIEWS_HDR.pack(entries[0][0], n, codec) + body


def _byte_planes(a: np.ndarray) -> bytes:
    return np.frombuffer(a.tobytes(), dtype=np.uint8).reshape(len(a), a.dtype.itemsize).T.tobytes()


def decode_views(payload: bytes) -> Views:
    _need(payload, VIEWS_HDR.size, "VIEWS")
    tick, n, codec = VIEWS_HDR.unpack_from(payload)
    body = payload[VIEWS_HDR.size:]
    fixed = sum(np.dtype(dt).itemsize for _, dt in VIEW_COLUMNS)
    if n > MAX_RECORD // fixed:
        raise FormatError("VIEWS record is implausibly large")
    if codec == DEFLATE:
        body = inflate(body, n * (fixed + VIEW_CLAIM.size + VIEW_HIT.size))
    elif codec != STORED:
        raise FormatError(f"unknown VIEWS codec {codec}")
    if len(body) < n * fixed:
        raise FormatError("VIEWS record is truncated")
    cols = {}
    off = 0
    for name, dt in VIEW_COLUMNS:
        size = np.dtype(dt).itemsize
        planes = np.frombuffer(body, dtype=np.uint8, count=n * size, offset=off).reshape(size, n)
        cols[name] = np.ascontiguousarray(planes.T).view(dt).reshape(n).tolist()
        off += n * size
    out = []
    for step, slot, code, back, frac, span in zip(*(cols[name] for name, _ in VIEW_COLUMNS)):
        tick += step
        status = code & 0x3
        if code & 0x1C or span == 0 or back > tick:
            raise FormatError("VIEWS entry is malformed")
        vt = tick - back
        claimed = None
        if code & STATUS_CLAIM:
            if off + VIEW_CLAIM.size > len(body):
                raise FormatError("VIEWS record is truncated")
            claimed = VIEW_CLAIM.unpack_from(body, off)
            off += VIEW_CLAIM.size
        elif status == 1 and not code & STATUS_NO_CLAIM:
            claimed = (vt, frac)
        hit = None
        if code & STATUS_HIT:
            if off + VIEW_HIT.size > len(body):
                raise FormatError("VIEWS record is truncated")
            hit = VIEW_HIT.unpack_from(body, off)[0] - 1
            off += VIEW_HIT.size
        out.append(ShotView(tick, slot, VIEW_STATUSES[status], vt, frac, span, claimed, hit))
    if off != len(body):
        raise FormatError("VIEWS record has trailing bytes")
    return Views(tuple(out))


def encode_end(final_tick: int, clean: bool, keyframes: list[tuple[int, int]]) -> bytes:
    return END_HDR.pack(final_tick, END_CLEAN if clean else 0, len(keyframes)) + b"".join(
        END_ENTRY.pack(t, o) for t, o in keyframes)


def _need(payload: bytes, n: int, what: str) -> None:
    if len(payload) < n:
        raise FormatError(f"{what} record is truncated")


def decode_record(kind: int, payload: bytes) -> Record:
    """Typed record from a CRC-checked payload; FormatError if the bytes don't make sense."""
    if kind == Kind.TICKS:
        _need(payload, TICKS_HDR.size, "TICKS")
        first, count, n_slots, codec, alen = TICKS_HDR.unpack_from(payload)
        if count == 0:
            raise FormatError("TICKS record with no ticks")
        mlen = count * ((n_slots + 7) // 8)
        a0 = TICKS_HDR.size + mlen
        if len(payload) < a0 + alen:
            raise FormatError("TICKS record is truncated")
        masks = bytes(payload[TICKS_HDR.size:a0])
        if n_slots:
            allbits = np.unpackbits(np.frombuffer(masks, dtype=np.uint8).reshape(count, -1), axis=1,
                                    bitorder="little")
            if allbits[:, n_slots:].any():
                raise FormatError("TICKS mask has bits set beyond the active slots")
            changes = int(allbits.sum())
        else:
            changes = 0
        stream = payload[a0:a0 + alen]
        if codec == DEFLATE:
            stream = inflate(stream, changes)
        elif codec != STORED:
            raise FormatError(f"unknown TICKS codec {codec}")
        if len(stream) != changes:
            raise FormatError("TICKS change stream does not match its masks")
        return TickBlock(first, count, n_slots, masks, bytes(stream), bytes(payload[a0 + alen:]))
    if kind == Kind.JOIN:
        _need(payload, JOIN_HDR.size, "JOIN")
        tick, slot = JOIN_HDR.unpack_from(payload)
        return Join(tick, slot, payload[JOIN_HDR.size:].decode("utf-8", "replace"))
    if kind == Kind.LEAVE:
        if len(payload) != LEAVE.size:
            raise FormatError("LEAVE record has the wrong size")
        return Leave(*LEAVE.unpack(payload))
    if kind == Kind.CHECKSUM:
        _need(payload, CHECKSUM_HDR.size, "CHECKSUM")
        first, every, count, width = CHECKSUM_HDR.unpack_from(payload)
        if width not in (2, 4) or every == 0:
            raise FormatError("CHECKSUM record has a bad width or interval")
        if len(payload) != CHECKSUM_HDR.size + count * width:
            raise FormatError("CHECKSUM record has the wrong size")
        values = np.frombuffer(payload, dtype="<u4" if width == 4 else "<u2", count=count,
                               offset=CHECKSUM_HDR.size)
        return Checksums(first, every, width, tuple(values.tolist()))
    if kind == Kind.KEYFRAME:
        _need(payload, KEYFRAME_HDR.size, "KEYFRAME")
        tick, codec, raw_len = KEYFRAME_HDR.unpack_from(payload)
        if raw_len > MAX_RECORD:
            raise FormatError("KEYFRAME is implausibly large")
        return Keyframe(tick, codec, raw_len, bytes(payload[KEYFRAME_HDR.size:]))
    if kind in (Kind.EVENT, Kind.AUDIT):
        return Items(kind, decode_msgpack_record(payload))
    if kind == Kind.VIEWS:
        return decode_views(payload)
    if kind == Kind.END:
        _need(payload, END_HDR.size, "END")
        final, flags, n = END_HDR.unpack_from(payload)
        if len(payload) != END_HDR.size + n * END_ENTRY.size:
            raise FormatError("END record has the wrong size")
        entries = tuple(END_ENTRY.unpack_from(payload, END_HDR.size + i * END_ENTRY.size) for i in range(n))
        return End(final, bool(flags & END_CLEAN), entries)
    return Unknown(kind, bytes(payload))
