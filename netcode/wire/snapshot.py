"""Snapshot delta codec: entity tables delta-encoded against an acknowledged baseline.

The server sends each client the entities in its area of interest, delta-encoded
against the newest snapshot that client acknowledged (Quake 3's "delta frame";
Glenn Fiedler, "Snapshot Compression").  When the client has acknowledged nothing
that the server still remembers, the snapshot is sent in full (an empty baseline).

Everything here is a pure function over numpy arrays: the encoder and decoder use a
fixed number of whole-array operations per snapshot, independent of the number of
entities (a few loops over at most 16 fields happen in Python on tiny arrays).
The byte layout is specified in docs/SNAPSHOT.md; keep the two in step.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import attrs
import msgpack
import numpy as np

from netcode.wire.errors import WireError

__all__ = [
    "FORMAT_VERSION",
    "MAX_ENTITIES",
    "MAX_FIELDS",
    "MissingBaseline",
    "NO_BASELINE",
    "DecodedSnapshot",
    "EntityTable",
    "SnapshotHeader",
    "SnapshotSchema",
    "decode_snapshot",
    "encode_snapshot",
    "naive_snapshot_bytes",
    "peek_header",
    "select_update",
]

#: ``baseline_tick`` value meaning "no baseline: this snapshot is a full one".
NO_BASELINE = 0xFFFFFFFF
#: Most fields a schema may have (field-change masks are at most 16 bits).
MAX_FIELDS = 16
#: Most entities in one table (counts travel as u16).
MAX_ENTITIES = 0xFFFF
#: High nibble of the first byte of every snapshot.
FORMAT_VERSION = 1

_U32_MAX = 0xFFFFFFFF
_I32_MIN = -(1 << 31)
_I32_MAX = (1 << 31) - 1

# Flag bits (byte after the tick fields).
_F_REMOVED_LIST = 0x01  # removed set sent as a gap list instead of a bitmask
_F_CHANGED_LIST = 0x02  # changed set sent as a gap list instead of a bitmask
_F_PALETTE = 0x04  # field-change masks sent as palette + indices
_F_KNOWN = _F_REMOVED_LIST | _F_CHANGED_LIST | _F_PALETTE

_HEAD = struct.Struct("<BIB")  # version|F-1, tick, baseline age
_U32 = struct.Struct("<I")
_COUNTS = struct.Struct("<BHHH")  # flags, n_removed, n_changed, n_added

# Column widths: a signed column fits w bytes iff every x ^ (x >> 31) < 2**(8w-1).
_SIGNED_LIM = np.array([1 << 7, 1 << 15, 1 << 23], dtype=np.int64)
# Row w-1: which of an element's 4 little-endian bytes travel at width w.
_BYTE_MASKS = np.tri(4, 4, dtype=bool)
# Shift that sign-extends a w-byte value held in an int32, indexed by w.
_SIGN_SHIFT = np.array([0, 24, 16, 8, 0], dtype=np.int32)
# Row v: the 8 bits of byte v, LSB first.
_BITS8 = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
# Width code c (0..3 for widths 1..4) as its 2 bits, LSB first.
_CODE_BITS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.uint8)
# Width from the 2 code bits viewed as one little-endian uint16 (b0 + 256 * b1).
_PAIR_WIDTH = np.zeros(258, dtype=np.int64)
_PAIR_WIDTH[[0, 1, 256, 257]] = [1, 2, 3, 4]
_POW2_U8 = (1 << np.arange(8)).astype(np.uint8)
_POW2_U16 = (1 << np.arange(16)).astype(np.uint16)
_ARANGE = np.arange(MAX_ENTITIES + 1, dtype=np.int64)
_ONES_I32 = np.ones(MAX_ENTITIES + 1, dtype=np.int32)
_ONES_U8 = np.ones(MAX_ENTITIES + 1, dtype=np.uint8)
_EMPTY_U8 = np.zeros(0, dtype=np.uint8)
_EMPTY_U32 = np.zeros(0, dtype=np.uint32)


class MissingBaseline(WireError):
    """A delta snapshot whose baseline the decoder does not hold (lost, or already forgotten): not
    malformed, just undecodable here; the sender resends against an older baseline or in full."""


# ---------------------------------------------------------------------------
# data model
# ---------------------------------------------------------------------------


def _frozen_view(a: np.ndarray) -> np.ndarray:
    # A read-only *view* keeps the table immutable without touching the flags of the
    # caller's array (which it may well go on writing to for the next tick).
    v = a.view()
    v.flags.writeable = False
    return v


def _convert_ids(ids: object) -> np.ndarray:
    a = np.asarray(ids)
    if a.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {a.shape}")
    if a.dtype != np.uint32:
        if a.size == 0:
            a = a.astype(np.uint32)
        elif a.dtype.kind not in "iu":
            raise TypeError(f"ids must be integers, got {a.dtype}")
        elif int(a.min()) < 0 or int(a.max()) > _U32_MAX:
            raise ValueError("ids must fit in uint32")
        else:
            a = a.astype(np.uint32)
    return _frozen_view(np.ascontiguousarray(a))


def _convert_values(values: object) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 2:
        raise ValueError(f"values must be 2-D [n, F], got shape {a.shape}")
    if a.dtype != np.int32:
        if a.size == 0:
            a = a.astype(np.int32)
        elif a.dtype.kind not in "iu":
            raise TypeError(f"values must be integers, got {a.dtype}")
        elif int(a.min()) < _I32_MIN or int(a.max()) > _I32_MAX:
            raise ValueError("values must fit in int32")
        else:
            a = a.astype(np.int32)
    return _frozen_view(np.ascontiguousarray(a))


@attrs.frozen(eq=False)
class EntityTable:
    """The entities one client holds at one tick.

    ``ids`` is a uint32 array [n] of entity indices, strictly increasing; ``values``
    is an int32 array [n, F] with one row per entity and the fields in schema order
    (1 <= F <= 16).  Both are stored as read-only views.  Equality and hashing are
    by content (ids, F and values), so tables can be compared directly in tests.
    """

    ids: np.ndarray = attrs.field(converter=_convert_ids)
    values: np.ndarray = attrs.field(converter=_convert_values)

    def __attrs_post_init__(self) -> None:
        n, f = self.values.shape
        if n != self.ids.shape[0]:
            raise ValueError(f"{self.ids.shape[0]} ids but {n} value rows")
        if not 1 <= f <= MAX_FIELDS:
            raise ValueError(f"number of fields must be 1..{MAX_FIELDS}, got {f}")
        if n > 1 and not (self.ids[1:] > self.ids[:-1]).all():
            raise ValueError("ids must be strictly increasing")

    @classmethod
    def _trusted(cls, ids: np.ndarray, values: np.ndarray) -> EntityTable:
        # The decoder has already validated everything; skip the converters (they cost
        # several microseconds, a noticeable share of a decode).
        # The arrays are fresh or already read-only views, so freezing them in place
        # is safe and cheaper than taking views.
        ids.setflags(write=False)
        values.setflags(write=False)
        t = object.__new__(cls)
        object.__setattr__(t, "ids", ids)
        object.__setattr__(t, "values", values)
        return t

    @classmethod
    def empty(cls, n_fields: int) -> EntityTable:
        """An empty table with ``n_fields`` fields."""
        return cls(np.zeros(0, np.uint32), np.zeros((0, n_fields), np.int32))

    @property
    def n_fields(self) -> int:
        """Number of fields F (columns of ``values``)."""
        return int(self.values.shape[1])

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def content_equal(self, other: object) -> bool:
        """True if ``other`` is an EntityTable with the same ids, F and values."""
        return (
            isinstance(other, EntityTable)
            and self.values.shape == other.values.shape
            and np.array_equal(self.ids, other.ids)
            and np.array_equal(self.values, other.values)
        )

    def content_digest(self) -> bytes:
        """A 16-byte digest of the content; equal tables have equal digests."""
        h = hashlib.blake2b(digest_size=16)
        h.update(struct.pack("<II", *self.values.shape))
        h.update(self.ids.astype("<u4", copy=False).tobytes())
        h.update(self.values.astype("<i4", copy=False).tobytes())
        return h.digest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EntityTable):
            return NotImplemented
        return self.content_equal(other)

    def __hash__(self) -> int:
        return hash(self.content_digest())

    def subset(self, ids: Iterable[int] | np.ndarray) -> EntityTable:
        """The rows whose id is in ``ids`` (ids not in the table are ignored)."""
        want = np.asarray(ids, dtype=np.int64).ravel()
        mask = np.isin(self.ids, want)
        return EntityTable._trusted(self.ids[mask], self.values[mask])


def _convert_fields(fields: Iterable[str]) -> tuple[str, ...]:
    return tuple(fields)


@attrs.frozen
class SnapshotSchema:
    """Names of the F per-entity int32 fields, in wire order (1 <= F <= 16).

    The codec itself only needs F; the schema names columns for building tables and
    for the naive msgpack baseline.
    """

    fields: tuple[str, ...] = attrs.field(converter=_convert_fields)

    @fields.validator
    def _check(self, _attr: object, value: tuple[str, ...]) -> None:
        if not 1 <= len(value) <= MAX_FIELDS:
            raise ValueError(f"a schema has 1..{MAX_FIELDS} fields, got {len(value)}")
        if len(set(value)) != len(value):
            raise ValueError(f"duplicate field names in {value}")
        if "id" in value:
            raise ValueError("'id' is reserved for the entity id")

    @property
    def n_fields(self) -> int:
        """Number of fields F."""
        return len(self.fields)

    def index(self, name: str) -> int:
        """Column index of field ``name``."""
        return self.fields.index(name)

    def make_table(self, ids: Iterable[int] | np.ndarray, columns: Mapping[str, object]) -> EntityTable:
        """Build a table from per-field columns; fields missing from ``columns`` are 0."""
        ids = np.asarray(ids)
        unknown = set(columns) - set(self.fields)
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        values = np.zeros((ids.shape[0], self.n_fields), dtype=np.int64)
        for name, col in columns.items():
            values[:, self.index(name)] = np.asarray(col)
        return EntityTable(ids, values)

    def column(self, table: EntityTable, name: str) -> np.ndarray:
        """The column of ``table`` for field ``name`` (a read-only view)."""
        return table.values[:, self.index(name)]


class SnapshotHeader(NamedTuple):
    """What :func:`peek_header` reads: the snapshot tick and its baseline tick."""

    tick: int
    baseline_tick: int  # NO_BASELINE for a full snapshot


class DecodedSnapshot(NamedTuple):
    """What :func:`decode_snapshot` returns: ``(tick, baseline_tick, table)``."""

    tick: int
    baseline_tick: int  # NO_BASELINE for a full snapshot
    table: EntityTable


# ---------------------------------------------------------------------------
# encoder
# ---------------------------------------------------------------------------


def _uwidth(v: int) -> int:
    """Bytes (1..4) for an unsigned value < 2**32."""
    return 1 if v < 0x100 else 2 if v < 0x10000 else 3 if v < 0x1000000 else 4


def _gaps(pos: np.ndarray) -> tuple[np.ndarray, int]:
    """Strictly increasing ints in [0, 2**32) -> (uint32 gaps, their width in bytes).

    Gaps are the first value, then each difference minus one.
    """
    g = pos.astype(np.uint32)
    g[1:] -= g[:-1] + np.uint32(1)
    # Every gap is at most the last position, which usually settles the width alone.
    last = int(pos[-1])
    return g, 1 if last < 0x100 else _uwidth(int(g.max()))


def _bits_le(values: np.ndarray, nbits: int) -> np.ndarray:
    """Unsigned ints [m] < 2**16 -> their low ``nbits`` bits, LSB first, as [m, nbits] uint8."""
    if nbits <= 8:
        return _BITS8.take(values, axis=0)[:, :nbits]
    v = values.astype(np.uint16)
    return np.concatenate((_BITS8.take(v & 0xFF, axis=0), _BITS8.take(v >> 8, axis=0)), axis=1)[
        :, :nbits
    ]


def _pattern_codes(fm: np.ndarray) -> np.ndarray:
    """Bool [m, F] -> one uint8/uint16 per row with bit f set iff fm[:, f]."""
    F = fm.shape[1]
    return fm.view(np.uint8) @ (_POW2_U8[:F] if F <= 8 else _POW2_U16[:F])


def encode_snapshot(
    tick: int,
    current: EntityTable,
    baseline_tick: int | None,
    baseline: EntityTable | None,
) -> bytes:
    """Encode ``current`` for tick ``tick`` as a delta against ``baseline``.

    ``baseline`` is the table the client acknowledged for ``baseline_tick``, or None
    for a full snapshot (``baseline_tick`` is then ignored; pass NO_BASELINE or None).
    The output is deterministic and ``decode_snapshot(out, {baseline_tick:
    baseline}.get)`` returns exactly ``current``.  Raises ValueError for inputs the
    format cannot carry (more than 65535 entities, F mismatch, bad ticks).
    """
    tick = int(tick)
    if not 0 <= tick <= _U32_MAX:
        raise ValueError(f"tick {tick} does not fit in uint32")
    cur_ids = current.ids
    cur_vals = current.values
    if cur_ids.dtype != np.uint32 or cur_vals.dtype != np.int32:
        # Only reachable through EntityTable._trusted, which skips the converters.
        raise ValueError(f"table arrays must be uint32/int32, got {cur_ids.dtype}/{cur_vals.dtype}")
    n = cur_ids.shape[0]
    F = cur_vals.shape[1]
    if n > MAX_ENTITIES:
        raise ValueError(f"{n} entities > {MAX_ENTITIES}")

    extra = b""
    if baseline is None:
        age = 0
        nb = 0
    else:
        if baseline.values.shape[1] != F:
            raise ValueError(f"baseline has {baseline.values.shape[1]} fields, current {F}")
        if baseline.ids.dtype != np.uint32 or baseline.values.dtype != np.int32:
            raise ValueError("baseline arrays must be uint32/int32")
        if baseline_tick is None:
            raise ValueError("a baseline needs its baseline_tick")
        bt = int(baseline_tick)
        if not 0 <= bt < NO_BASELINE:
            raise ValueError(f"baseline_tick {bt} is not a valid tick")
        a = (tick - bt) & _U32_MAX
        if 1 <= a <= 254:
            age = a  # Quake 3 also sends its delta frame as a one-byte age
        else:
            age = 255
            extra = _U32.pack(bt)
        base_ids = baseline.ids
        base_vals = baseline.values
        nb = base_ids.shape[0]
        if nb > MAX_ENTITIES:
            raise ValueError(f"baseline has {nb} entities > {MAX_ENTITIES}")

    flags = 0
    widths: list[int] = []  # bytes per element of each number column, stream order
    counts: list[int] = []  # elements of each number column
    nums: list[np.ndarray] = []  # uint32 bit patterns of the columns, stream order
    bits: list[np.ndarray] = [_EMPTY_U8]  # bit block; [0] becomes the width codes
    palette_byte = b""

    # -- match current against baseline (both sorted: one searchsorted) ----------
    if nb and n:
        pos = base_ids.searchsorted(cur_ids)
        in_base = base_ids.take(pos, mode="clip") == cur_ids
        kidx = in_base.nonzero()[0]  # current row of each kept entity
        nk = kidx.shape[0]
        kpos = pos.take(kidx)  # its baseline row, ascending like kidx
    else:
        nk = 0
    n_rem = nb - nk
    na = n - nk

    # -- removed: subset of baseline rows; bitmask or gap list, whichever is smaller
    if 0 < n_rem < nb:
        rem = _ONES_U8[:nb].copy()
        rem[kpos] = 0
        g, w = _gaps(rem.nonzero()[0])
        if 8 * w * n_rem + 2 < nb:
            flags |= _F_REMOVED_LIST
            widths.append(w)
            counts.append(n_rem)
            nums.append(g)
        else:
            bits.append(rem)

    # -- kept: Fiedler's one "changed" bit per entity, then field masks + deltas ---
    nc = 0
    dense: list[np.ndarray] = []  # value matrices whose column ORs give the widths
    if nk:
        kv = cur_vals if nk == n else cur_vals.take(kidx, axis=0)
        bv = base_vals if nk == nb else base_vals.take(kpos, axis=0)
        diff = kv - bv  # int32 wrap-around: exact for any values, decoder adds back
        fm = diff != 0
        codes = _pattern_codes(fm)
        ch_pos = codes.nonzero()[0]
        nc = ch_pos.shape[0]
        if 0 < nc < nk:
            g, w = _gaps(ch_pos)
            if 8 * w * nc + 2 < nk:
                flags |= _F_CHANGED_LIST
                widths.append(w)
                counts.append(nc)
                nums.append(g)
            else:
                bits.append((codes != 0).view(np.uint8))
        if nc:
            if nc < nk:
                fm = fm.take(ch_pos, axis=0)
                diff = diff.take(ch_pos, axis=0)
                codes = codes.take(ch_pos)
            # Field-change masks: moving entities mostly change the same few fields,
            # so a palette of the distinct masks plus a short index per entity usually
            # beats Quake 3's F bits per entity.
            if F <= 8:
                present = np.zeros(256, dtype=bool)
                present[codes] = True
                uniq = present.nonzero()[0]
            else:
                uniq = np.unique(codes)
            k = uniq.shape[0]
            b = (k - 1).bit_length()
            if k <= 256 and 8 + k * F + nc * b < nc * F:
                flags |= _F_PALETTE
                palette_byte = bytes((k - 1,))
                bits.append(_bits_le(uniq, F).ravel())
                if b:
                    bits.append(_bits_le(uniq.searchsorted(codes), b).ravel())
            else:
                bits.append(fm.view(np.uint8).ravel())
            counts.extend((_ONES_I32[:nc] @ fm.view(np.uint8)).tolist())
            nums.append(diff.T[fm.T].view(np.uint32))  # field-major: one column per field
            dense.append(diff)  # unchanged fields have delta 0: no effect on the widths

    # -- added: id gaps, then full values, one column per field --------------------
    if na:
        if nk:
            aidx = (~in_base).nonzero()[0]
            a_ids = cur_ids.take(aidx)
            a_vals = cur_vals.take(aidx, axis=0)
        else:
            a_ids = cur_ids
            a_vals = cur_vals
        g, id_w = _gaps(a_ids)
        counts.append(na)
        counts.extend([na] * F)
        nums.append(g)
        nums.append(a_vals.T.ravel().view(np.uint32))
        dense.append(a_vals)

    # -- assemble -------------------------------------------------------------------
    head = (
        _HEAD.pack((FORMAT_VERSION << 4) | (F - 1), tick, age)
        + extra
        + _COUNTS.pack(flags, n_rem, nc, na)
        + palette_byte
    )
    if not counts:
        # Nothing but (maybe) a removed bitmask: no width codes, no number stream.
        if len(bits) == 1:
            return head
        return head + np.packbits(bits[1], bitorder="little").tobytes()
    if dense:
        # One OR-reduction gives every value column's width (changed and added rows
        # stacked, split with reduceat).
        m = dense[0] if len(dense) == 1 else np.concatenate(dense)
        m = m ^ (m >> 31)
        if len(dense) == 1:
            ors = np.bitwise_or.reduce(m, axis=0)
        else:
            ors = np.bitwise_or.reduceat(m, [0, nc], axis=0).ravel()
        vw = (_SIGNED_LIM.searchsorted(ors, side="right") + 1).tolist()
        if nc:
            widths.extend(vw[:F])
            vw = vw[F:]
        if na:
            widths.append(id_w)
            widths.extend(vw)
    w_arr = np.array(widths, dtype=np.int64)
    bits[0] = _CODE_BITS.take(w_arr - 1, axis=0).ravel()
    block = np.packbits(np.concatenate(bits), bitorder="little")

    stream = np.concatenate(nums) if len(nums) > 1 else nums[0]
    # Little-endian truncation of a two's-complement int32 to w bytes is the w-byte
    # two's-complement value whenever it fits, so one mask picks every column's bytes.
    u8 = stream.astype("<u4", copy=False).view(np.uint8).reshape(-1, 4)
    payload = u8[_BYTE_MASKS.take(w_arr.repeat(counts) - 1, axis=0)]
    return b"".join((head, block.tobytes(), payload.tobytes()))


# ---------------------------------------------------------------------------
# decoder
# ---------------------------------------------------------------------------


def _read_head(data: bytes | bytearray) -> tuple[int, int, int, int, int]:
    """-> (F, tick, age, baseline_tick, offset after the tick fields)."""
    if len(data) < _HEAD.size:
        raise WireError(f"snapshot too short: {len(data)} bytes")
    fmt, tick, age = _HEAD.unpack_from(data, 0)
    if fmt >> 4 != FORMAT_VERSION:
        raise WireError(f"unknown snapshot format version {fmt >> 4}")
    off = _HEAD.size
    if age == 0:
        bt = NO_BASELINE
    elif age == 255:
        if len(data) < off + 4:
            raise WireError("snapshot truncated in baseline tick")
        (bt,) = _U32.unpack_from(data, off)
        off += 4
        if bt == NO_BASELINE:
            raise WireError("explicit baseline tick is the no-baseline sentinel")
    else:
        bt = (tick - age) & _U32_MAX
    return (fmt & 0x0F) + 1, tick, age, bt, off


def peek_header(data: bytes | bytearray | memoryview) -> SnapshotHeader:
    """Read ``(tick, baseline_tick)`` without decoding (NO_BASELINE if full).

    Raises WireError if the first bytes are not a snapshot header.
    """
    if isinstance(data, memoryview):
        data = data[:10].tobytes()
    _f, tick, _age, bt, _off = _read_head(data)
    return SnapshotHeader(tick, bt)


def _positions(gaps: np.ndarray, limit: int, what: str) -> np.ndarray:
    """Gap column -> strictly increasing int64 positions, all < ``limit``."""
    pos = gaps.cumsum(dtype=np.int64)
    pos += _ARANGE[: gaps.shape[0]]  # gaps are diff - 1
    if int(pos[-1]) >= limit:
        raise WireError(f"{what} position {int(pos[-1])} out of range {limit}")
    return pos


def decode_snapshot(
    data: bytes | bytearray | memoryview,
    get_baseline: Callable[[int], EntityTable | None],
) -> DecodedSnapshot:
    """Decode a snapshot; returns ``(tick, baseline_tick, table)``.

    ``get_baseline(baseline_tick)`` must return the table this client decoded for
    that tick, or None if it no longer has it (then WireError is raised: the client
    keeps acking what it has, and the server falls back to an older acked snapshot or
    a full one).  Any malformed, truncated or inconsistent input raises WireError and
    nothing else; allocations are bounded by ``len(data)`` and the baseline's size.
    """
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    size = len(data)
    F, tick, age, bt, off = _read_head(data)
    if size < off + _COUNTS.size:
        raise WireError("snapshot truncated in counts")
    flags, n_rem, nc, na = _COUNTS.unpack_from(data, off)
    off += _COUNTS.size
    if flags & ~_F_KNOWN:
        raise WireError(f"unknown snapshot flags {flags:#x}")
    k = 0
    if flags & _F_PALETTE:
        if size < off + 1:
            raise WireError("snapshot truncated in palette size")
        k = data[off] + 1
        off += 1

    if age == 0:
        base = None
        nb = 0
    else:
        base = get_baseline(bt)
        if base is None:
            raise MissingBaseline(f"baseline tick {bt} is not available")
        if base.values.shape[1] != F:
            raise WireError(f"snapshot has {F} fields, baseline {base.values.shape[1]}")
        nb = base.ids.shape[0]
        if nb > MAX_ENTITIES:  # never decoded from the wire: the caller's own table
            raise WireError(f"baseline has {nb} entities > {MAX_ENTITIES}")
    if n_rem > nb:
        raise WireError(f"{n_rem} removed of a {nb}-entity baseline")
    nk = nb - n_rem
    if nc > nk:
        raise WireError(f"{nc} changed of {nk} kept entities")
    if nk + na > MAX_ENTITIES:
        raise WireError(f"{nk + na} entities > {MAX_ENTITIES}")
    rem_partial = 0 < n_rem < nb
    chg_partial = 0 < nc < nk
    rem_list = flags & _F_REMOVED_LIST != 0
    chg_list = flags & _F_CHANGED_LIST != 0
    if rem_list and not rem_partial:
        raise WireError("removed-list flag without a partial removal")
    if chg_list and not chg_partial:
        raise WireError("changed-list flag without a partial change set")
    if k and (k > nc or k >= 1 << F):
        raise WireError(f"palette of {k} masks for {nc} entities and {F} fields")

    # -- bit block: width codes, removed/changed bitmasks, field-change masks ---------
    ncols = rem_list + chg_list + (F if nc else 0) + (1 + F if na else 0)
    rem_bits = nb if rem_partial and not rem_list else 0
    chg_bits = nk if chg_partial and not chg_list else 0
    b = (k - 1).bit_length() if k else 0
    fm_bits = (k * F + nc * b) if k else nc * F
    total_bits = 2 * ncols + rem_bits + chg_bits + fm_bits
    nbytes = (total_bits + 7) >> 3
    if off + nbytes > size:
        raise WireError("snapshot truncated in bit block")
    if total_bits & 7 and data[off + nbytes - 1] >> (total_bits & 7):
        raise WireError("non-zero padding bits")
    bits = np.unpackbits(np.frombuffer(data, np.uint8, nbytes, off), bitorder="little")
    off += nbytes
    p = 2 * ncols
    w_col = _PAIR_WIDTH.take(bits[:p].view("<u2"))
    rem_mask = chg_mask = fm = None
    if rem_bits:
        rem_mask = bits[p : p + nb].view(bool)
        p += nb
    if chg_bits:
        chg_mask = bits[p : p + nk].view(bool)
        p += nk
    if nc:
        pow2 = _POW2_U8[:F] if F <= 8 else _POW2_U16[:F]
        if k:
            pal = bits[p : p + k * F].reshape(k, F)
            p += k * F
            pal_codes = pal @ pow2
            if pal_codes[0] == 0 or (
                k > 1 and np.count_nonzero(pal_codes[1:] <= pal_codes[:-1])
            ):
                raise WireError("palette masks must be non-zero and strictly increasing")
            if b:
                idx = bits[p : p + nc * b].reshape(nc, b) @ _POW2_U8[:b]
                if k < 1 << b and np.count_nonzero(idx >= k):
                    raise WireError("palette index out of range")
                fm = pal.take(idx, axis=0)
                chg_counts = (np.bincount(idx, minlength=k) @ pal).tolist()
            else:
                fm = np.broadcast_to(pal, (nc, F))
                chg_counts = (pal[0].astype(np.int64) * nc).tolist()
        else:
            fm = bits[p : p + nc * F].reshape(nc, F)
            if np.count_nonzero(fm @ pow2) != nc:
                raise WireError("changed entity with an empty field mask")
            chg_counts = (_ONES_I32[:nc] @ fm).tolist()
        fm = fm.view(bool)

    # -- number stream: every column, one width each ----------------------------------
    counts: list[int] = []
    if rem_list:
        counts.append(n_rem)
    if chg_list:
        counts.append(nc)
    n_vals = 0
    if nc:
        n_vals = sum(chg_counts)
        counts.extend(chg_counts)
    if na:
        counts.extend([na] * (F + 1))
    need = sum(map(int.__mul__, w_col.tolist(), counts))
    if off + need != size:
        raise WireError(
            f"snapshot is {size} bytes but its layout needs {off + need}"
            + (" (trailing bytes)" if off + need < size else " (truncated)")
        )
    if counts:
        w_elem = w_col.repeat(counts)
        buf = np.zeros((w_elem.shape[0], 4), dtype=np.uint8)
        buf[_BYTE_MASKS.take(w_elem - 1, axis=0)] = np.frombuffer(data, np.uint8, need, off)
        raw = buf.view("<u4").ravel()  # zero-extended: the unsigned gap columns
        sh = _SIGN_SHIFT.take(w_elem)
        sval = (raw.view("<i4") << sh) >> sh  # sign-extended: the value columns
    q = 0  # read position in the stream

    # -- kept = baseline minus removed ------------------------------------------------
    if base is None or n_rem == nb:
        kept_ids = _EMPTY_U32
        kept_vals = np.zeros((0, F), dtype=np.int32)
    elif n_rem == 0:
        kept_ids = base.ids
        kept_vals = base.values
    else:
        if rem_list:
            keep = _ONES_U8[:nb].copy()
            keep[_positions(raw[:n_rem], nb, "removed")] = 0
            q = n_rem
            kidx = keep.nonzero()[0]
        else:
            kidx = (~rem_mask).nonzero()[0]
            if kidx.shape[0] != nk:
                raise WireError("removed bitmask popcount does not match its count")
        kept_ids = base.ids.take(kidx)
        kept_vals = base.values.take(kidx, axis=0)

    # -- changed: add the deltas ------------------------------------------------------
    if nc:
        if chg_list:
            ch_pos = _positions(raw[q : q + nc], nk, "changed")
            q += nc
        elif chg_mask is not None:
            ch_pos = chg_mask.nonzero()[0]
            if ch_pos.shape[0] != nc:
                raise WireError("changed bitmask popcount does not match its count")
        else:
            ch_pos = None  # every kept entity changed
        vals = sval[q : q + n_vals]
        q += n_vals
        if np.count_nonzero(vals) != n_vals:
            raise WireError("zero delta for a field marked as changed")
        delta = np.zeros((nc, F), dtype=np.int32)
        delta.T[fm.T] = vals
        if ch_pos is None:
            kept_vals = kept_vals + delta
        else:
            full = np.zeros((nk, F), dtype=np.int32)
            full[ch_pos] = delta
            kept_vals = kept_vals + full  # int32 wrap-around, as in the encoder

    # -- added, merged into id order ----------------------------------------------------
    if na:
        a_ids64 = _positions(raw[q : q + na], _U32_MAX + 1, "added id")
        q += na
        a_ids = a_ids64.astype(np.uint32)
        a_vals = sval[q : q + na * F].reshape(F, na).T
        if nk == 0:
            ids = a_ids
            values = np.ascontiguousarray(a_vals)
        else:
            n_tot = nk + na
            # A stable merge: an added id equal to a kept id lands just before it, so
            # the strictly-increasing check below catches the collision.
            ins = kept_ids.searchsorted(a_ids)
            ins += _ARANGE[:na]
            kp = a_ids.searchsorted(kept_ids, side="right")
            kp += _ARANGE[:nk]
            ids = np.empty(n_tot, dtype=np.uint32)
            ids[kp] = kept_ids
            ids[ins] = a_ids
            if np.count_nonzero(ids[1:] <= ids[:-1]):
                raise WireError("added id collides with a kept id")
            values = np.empty((n_tot, F), dtype=np.int32)
            values[kp] = kept_vals
            values[ins] = a_vals
    else:
        ids = kept_ids
        values = kept_vals
    return DecodedSnapshot(tick, bt, EntityTable._trusted(ids, values))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def select_update(
    baseline: EntityTable | None,
    current: EntityTable,
    update_ids: Iterable[int] | np.ndarray,
) -> EntityTable:
    """The table to send when the bandwidth budget only allows updating some entities.

    Entities in both ``baseline`` and ``current`` keep the baseline's values unless
    their id is in ``update_ids`` (then they take ``current``'s); entities only in
    ``current`` are included only if in ``update_ids`` (their entry is deferred);
    entities only in ``baseline`` (left the area of interest) are dropped, since a
    removal costs at most one bit.  Encode the result against ``baseline`` and store
    *the result*, not ``current``, as what the client holds at that tick: entities not
    updated then cost one "unchanged" bit each (see docs/SNAPSHOT.md).
    """
    upd = np.isin(current.ids, np.asarray(update_ids, dtype=np.int64).ravel())
    if baseline is None or len(baseline) == 0 or len(current) == 0:
        return EntityTable._trusted(current.ids[upd], current.values[upd])
    nb = baseline.ids.shape[0]
    pos = np.minimum(np.searchsorted(baseline.ids, current.ids), nb - 1)
    in_base = baseline.ids[pos] == current.ids
    keep = in_base | upd
    values = current.values.copy()
    stale = in_base & ~upd
    values[stale] = baseline.values[pos[stale]]
    return EntityTable._trusted(current.ids[keep], values[keep])


def naive_snapshot_bytes(tick: int, table: EntityTable, schema: SnapshotSchema) -> bytes:
    """The naive baseline: msgpack of ``{"tick", "entities": [{"id", field...}, ...]}``.

    One dict per entity with every field, full values, no delta: what a typical Python
    peer would send; used by the benchmark to size our codec against.
    """
    if table.n_fields != schema.n_fields:
        raise ValueError(f"table has {table.n_fields} fields, schema {schema.n_fields}")
    names = schema.fields
    entities = [
        {"id": i, **dict(zip(names, row))}
        for i, row in zip(table.ids.tolist(), table.values.tolist())
    ]
    return msgpack.packb({"tick": int(tick), "entities": entities})
