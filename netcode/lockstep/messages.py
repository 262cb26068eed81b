"""Lockstep game messages (first byte = type). Layout in docs/LOCKSTEP.md. Decoders raise only WireError.

Inputs travel as the game's input records (netcode.game.inputs): ``FrameCodec`` knows their size and
checks every field's range.

Frame numbers travel as their low 16 bits and are unwrapped against a nearby reference frame
(the receiver's current frame): every frame in flight is within ±32767 of it.
"""
from __future__ import annotations

import struct

import msgpack

from ..wire.errors import WireError

# client -> server
INPUT = 20        # unreliable: u16 bundle ack, i8 first - ack, u8 count|wide, u8/u16 repeat mask, records
CHECKSUM = 21     # reliable: u32 frame, u32 crc, u8 flags (bit 0: catch-up handshake)
REQUEST = 22      # unreliable: u32 first frame, u16 count
# server -> client
WELCOME = 30      # reliable: msgpack map
FRAMES = 31       # unreliable: u16 input ack, u16 first frame, u8 count, count × bundle
SYNC = 32         # reliable: u32 frame, u8 ok (answer to a catch-up handshake)
END = 33          # reliable: msgpack map (results)
ROSTER = 34       # reliable: msgpack map slot -> name (players who joined since the WELCOME)
ADVICE = 35       # unreliable: u8 frames needed, i16 input slack ms (third least of the last 16), u8 inputs carried since the last

MAX_PLAYERS = 16   # bundle masks are u16
MAX_INPUTS = 16
_INPUT_HDR = struct.Struct("<BHbB")  # type, bundle ack, first frame - ack, count (bits 0-4) | wide mask (bit 7)
_FRAMES_HDR = struct.Struct("<BHHB")
_CHECKSUM = struct.Struct("<BIIB")
_REQUEST = struct.Struct("<BIH")
_SYNC = struct.Struct("<BIB")
_U16 = struct.Struct("<H")
_MASKS = struct.Struct("<HH")
_ADVICE = struct.Struct("<BBhB")

F_MEMBERS = 1   # bundle flag: join and leave masks follow
F_KEY = 2       # bundle flag: entries are absolute (absent slot = no input), not changes vs the previous frame
F_FILLED = 4    # bundle flag: a u16 mask follows of the slots whose input the server filled (it came too late)
F_CARRIED = 8   # bundle flag: a u16 mask follows of the slots whose record carries an input that missed its frame


def unwrap(lo: int, ref: int) -> int:
    """The frame nearest ``ref`` whose low 16 bits are ``lo``."""
    d = (lo - ref) & 0xFFFF
    if d >= 0x8000:
        d -= 0x10000
    return ref + d


def message_type(data: bytes) -> int:
    if not data:
        raise WireError("empty message")
    return data[0]


class FrameCodec:
    """The lockstep messages that carry input records of one game (its InputSchema, netcode.game.inputs):
    INPUT entries and frame bundles. A record is ``size`` bytes; all-zero is "no input"."""

    def __init__(self, schema):
        self.schema = schema
        self.size = schema.record_size

    # ------------------------------------------------------------------ INPUT

    def encode_input(self, bundle_ack: int, first: int, entries: list[int]) -> bytes:
        """entries: packed records for frames first, first+1, ... (the unacknowledged tail is repeated); first is
        sent as its distance from bundle_ack (0..255). An entry equal to the one before it is one bit of the
        repeat mask (inputs rarely change every frame); the mask is one byte for up to 8 entries, else two. ``first``
        is sent as a signed byte after ``bundle_ack``: an input that missed its frame is re-sent until the server
        has it (it carries it to the next open frame), so ``first`` may lie before the newest bundle."""
        if len(entries) > MAX_INPUTS:
            raise ValueError(f"at most {MAX_INPUTS} inputs per message (none = an ack only)")
        if not -128 <= first - bundle_ack <= 127:
            raise ValueError("first input frame must be within -128..127 frames of the bundle ack")
        same = 0
        parts = []
        size = self.size
        for i, e in enumerate(entries):
            if i and e == entries[i - 1]:
                same |= 1 << i
            else:
                parts.append(e.to_bytes(size, "little"))
        wide = len(entries) > 8
        head = _INPUT_HDR.pack(INPUT, bundle_ack & 0xFFFF, first - bundle_ack, len(entries) | (0x80 if wide else 0))
        return head + (_U16.pack(same) if wide else bytes([same])) + b"".join(parts)

    def decode_input(self, data: bytes) -> tuple[int, int, list[int]]:
        """-> (bundle ack lo16, first frame lo16, [packed records])."""
        if len(data) < _INPUT_HDR.size + 1:
            raise WireError("short INPUT")
        t, ack, off, cb = _INPUT_HDR.unpack_from(data)
        n, wide = cb & 0x1F, cb & 0x80
        if t != INPUT or cb & 0x60 or n > MAX_INPUTS or (n > 8) != bool(wide):
            raise WireError("bad INPUT")
        pos = _INPUT_HDR.size
        if wide:
            if len(data) < pos + 2:
                raise WireError("short INPUT")
            (same,) = _U16.unpack_from(data, pos)
            pos += 2
        else:
            same = data[pos]
            pos += 1
        if same >> n or same & 1:
            raise WireError("bad INPUT repeat mask")
        size = self.size
        if len(data) != pos + size * (n - same.bit_count()):
            raise WireError("bad INPUT length")
        out: list[int] = []
        valid = self.schema.valid
        for i in range(n):
            if same >> i & 1:
                out.append(out[-1])
                continue
            e = int.from_bytes(data[pos:pos + size], "little")
            pos += size
            if not valid(e):
                raise WireError("input record out of range")
            out.append(e)
        return ack, (ack + off) & 0xFFFF, out

    # ------------------------------------------------------------------ bundles

    def encode_bundle(self, records: bytes, prev: bytes | None, join: int = 0, leave: int = 0,
                      filled: int = 0, carried: int = 0) -> bytes:
        """One frame's records for every slot (``n * size`` bytes). With the previous frame's records: only the
        slots that changed (delta); without: a keyframe listing every slot whose record is not "no input".
        ``filled``: the slots whose input missed the frame and was filled by the server (each client learns
        when its own inputs arrive too late, whatever it pressed); ``carried``: the slots whose record holds an
        input that missed its own frame and was put into this one (the server throws no input away)."""
        size = self.size
        n = len(records) // size
        mask = 0
        parts = []
        zero = bytes(size)
        for s in range(n):
            rec = records[s * size:(s + 1) * size]
            if rec != (zero if prev is None else prev[s * size:(s + 1) * size]):
                mask |= 1 << s
                parts.append(rec)
        flags = ((F_KEY if prev is None else 0) | (F_MEMBERS if join or leave else 0) | (F_FILLED if filled else 0)
                 | (F_CARRIED if carried else 0))
        head = bytes([flags])
        if join or leave:
            head += _MASKS.pack(join, leave)
        if filled:
            head += _U16.pack(filled)
        if carried:
            head += _U16.pack(carried)
        return head + _U16.pack(mask) + b"".join(parts)

    def bundle_size(self, data: bytes, off: int) -> int:
        """Length of the bundle starting at ``off`` (without decoding it)."""
        if off >= len(data):
            raise WireError("truncated bundle")
        flags = data[off]
        if flags & ~(F_MEMBERS | F_KEY | F_FILLED | F_CARRIED):
            raise WireError("bad bundle flags")
        head = 1 + (4 if flags & F_MEMBERS else 0) + (2 if flags & F_FILLED else 0) + (2 if flags & F_CARRIED else 0)
        if off + head + 2 > len(data):
            raise WireError("truncated bundle")
        (mask,) = _U16.unpack_from(data, off + head)
        size = head + 2 + self.size * mask.bit_count()
        if off + size > len(data):
            raise WireError("truncated bundle")
        return size

    def decode_bundle(self, blob: bytes, n: int, prev: bytes | None) -> tuple[bytes, int, int, int, int]:
        """-> (records bytes[n * size], join mask, leave mask, filled mask, carried mask). A delta needs the
        previous frame's records."""
        flags = blob[0]
        off = 1
        join = leave = filled = carried = 0
        if flags & F_MEMBERS:
            join, leave = _MASKS.unpack_from(blob, 1)
            off = 5
        if flags & F_FILLED:
            (filled,) = _U16.unpack_from(blob, off)
            off += 2
        if flags & F_CARRIED:
            (carried,) = _U16.unpack_from(blob, off)
            off += 2
        (mask,) = _U16.unpack_from(blob, off)
        off += 2
        if mask >> n or join >> n or leave >> n or filled >> n or carried >> n:
            raise WireError("slot out of range")
        size = self.size
        if flags & F_KEY:
            out = bytearray(n * size)
        else:
            if prev is None:
                raise WireError("delta bundle without its base")
            out = bytearray(prev)
        valid = self.schema.valid
        s = 0
        while mask:
            if mask & 1:
                rec = blob[off:off + size]
                if not valid(int.from_bytes(rec, "little")):
                    raise WireError("input record out of range")
                out[s * size:(s + 1) * size] = rec
                off += size
            mask >>= 1
            s += 1
        return bytes(out), join, leave, filled, carried

    def split_frames(self, data: bytes) -> tuple[int, int, list[bytes]]:
        """-> (input ack lo16, first frame lo16, [bundle blobs]) — bundles are split, not decoded."""
        if len(data) < _FRAMES_HDR.size:
            raise WireError("short FRAMES")
        t, ack, first, n = _FRAMES_HDR.unpack_from(data)
        if t != FRAMES or n == 0:
            raise WireError("bad FRAMES")
        off = _FRAMES_HDR.size
        blobs = []
        for _ in range(n):
            size = self.bundle_size(data, off)
            blobs.append(data[off:off + size])
            off += size
        if off != len(data):
            raise WireError("trailing bytes after bundles")
        return ack, first, blobs


# ------------------------------------------------------------------ CHECKSUM / REQUEST / SYNC

def encode_checksum(frame: int, crc: int, handshake: bool = False) -> bytes:
    return _CHECKSUM.pack(CHECKSUM, frame, crc, 1 if handshake else 0)


def decode_checksum(data: bytes) -> tuple[int, int, bool]:
    if len(data) != _CHECKSUM.size:
        raise WireError("bad CHECKSUM")
    t, frame, crc, flags = _CHECKSUM.unpack(data)
    if t != CHECKSUM or flags > 1:
        raise WireError("bad CHECKSUM")
    return frame, crc, bool(flags)


def encode_request(first: int, count: int) -> bytes:
    return _REQUEST.pack(REQUEST, first, count)


def decode_request(data: bytes) -> tuple[int, int]:
    if len(data) != _REQUEST.size:
        raise WireError("bad REQUEST")
    t, first, count = _REQUEST.unpack(data)
    if t != REQUEST or count == 0:
        raise WireError("bad REQUEST")
    return first, count


def encode_sync(frame: int, ok: bool) -> bytes:
    return _SYNC.pack(SYNC, frame, 1 if ok else 0)


def decode_sync(data: bytes) -> tuple[int, bool]:
    if len(data) != _SYNC.size:
        raise WireError("bad SYNC")
    t, frame, ok = _SYNC.unpack(data)
    if t != SYNC or ok > 1:
        raise WireError("bad SYNC")
    return frame, bool(ok)


def encode_advice(need: int, slack_ms: int, carried: int) -> bytes:
    """The server's word to one client on its timing: the frames of input delay plus lead its link needs (by the
    server's RTT and jitter estimates; pacing.needed_frames), how early (ms; negative:
    late) its inputs reach the server before their frame is built (the third least of its last 16), and
    how many of them missed their frame and were carried since the last ADVICE."""
    return _ADVICE.pack(ADVICE, max(0, min(255, need)), max(-32768, min(32767, slack_ms)), max(0, min(255, carried)))


def decode_advice(data: bytes) -> tuple[int, int, int]:
    if len(data) != _ADVICE.size or data[0] != ADVICE:
        raise WireError("bad ADVICE")
    _, delay, slack, carried = _ADVICE.unpack(data)
    return delay, slack, carried


def encode_map(kind: int, value: dict) -> bytes:
    return bytes([kind]) + msgpack.packb(value, use_bin_type=True)


def decode_map(data: bytes, kind: int) -> dict:
    if not data or data[0] != kind:
        raise WireError("wrong message type")
    try:
        value = msgpack.unpackb(data[1:], raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises several types for garbage
        raise WireError(f"bad msgpack: {e}") from None
    if not isinstance(value, dict):
        raise WireError("expected a map")
    return value


def encode_frames(input_ack: int, first: int, blobs: list[bytes]) -> bytes:
    return _FRAMES_HDR.pack(FRAMES, input_ack & 0xFFFF, first & 0xFFFF, len(blobs)) + b"".join(blobs)
