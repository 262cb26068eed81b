"""Input schemas: a game declares one fixed-size record per player per tick, field by field.

A record is the game's fields packed LSB-first, in declaration order, into a little-endian integer of
``record_size`` bytes (at most 64 bits). Every layer uses this one encoding: state-sync INPUT messages,
lockstep bundles, replays and prediction. All-zero bits are "no input" (every field's zero), so an
absent player, a filled frame and a fresh slot all look the same.

In memory a player's input is its packed ``int``; a tick's inputs for every slot are an ``int32
[P, F]`` array (``unpack_many``), which is what ``Game.step`` receives. Signed fields are stored as
two's complement in their width, so the field value 0 is all-zero bits too.

Per-field rules the netcode applies without knowing what a field means (Photon Quantum's input
declaration, GGRS's plain-old-data inputs):

* ``lo``/``hi``: the valid range. A record off the wire with a field outside it is malformed (dropped
  and counted); ``sanitize`` clamps what a local caller passes.
* ``wrap``: values are taken modulo ``2**bits`` (angles): every bit pattern is valid.
* ``hold``: when a player's input is missing, the filled input keeps this field (an aim stays put).
* ``release``: when an input is repeated for a missing tick, this field is cleared (a repeated fire
  button would fire shots the player never made).
* ``smooth``: the field moves by small steps from tick to tick (aim, a stick); the replay codec stores
  its second differences, which are small.
"""
from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

MAX_BITS = 64


def _check_name(inst, attr, value: str) -> None:
    if not isinstance(value, str) or not value.isidentifier():
        raise ValueError(f"input field name must be an identifier, got {value!r}")


@attrs.frozen
class InputField:
    """One field of an input record: ``bits`` wide, valid values ``lo..hi`` (see the module docstring)."""

    name: str = attrs.field(validator=_check_name)
    bits: int = attrs.field(converter=int)
    signed: bool = False
    lo: int = attrs.field(default=None)
    hi: int = attrs.field(default=None)
    wrap: bool = False
    hold: bool = False
    release: bool = False
    smooth: bool = False
    doc: str = ""

    def __attrs_post_init__(self) -> None:
        # values reach the game as int32 (unpack_many): 32 bits signed, 31 unsigned
        if not 1 <= self.bits <= (32 if self.signed else 31):
            raise ValueError(f"input field {self.name}: bits must be 1..{32 if self.signed else 31} "
                             f"({'signed' if self.signed else 'unsigned'}), got {self.bits}")
        if self.wrap and self.signed:
            raise ValueError(f"input field {self.name}: a wrapping field is unsigned")
        full_lo, full_hi = (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1) if self.signed else (
            0, (1 << self.bits) - 1)
        lo = full_lo if self.lo is None else operator.index(self.lo)
        hi = full_hi if self.hi is None else operator.index(self.hi)
        if not full_lo <= lo <= 0 <= hi <= full_hi:
            raise ValueError(f"input field {self.name}: range {lo}..{hi} must hold 0 and fit {self.bits} bits")
        if self.wrap and (lo, hi) != (full_lo, full_hi):
            raise ValueError(f"input field {self.name}: a wrapping field uses its whole range")
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

    @property
    def full_range(self) -> bool:
        """Every bit pattern of the field is a valid value."""
        if self.signed:
            return (self.lo, self.hi) == (-(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1)
        return (self.lo, self.hi) == (0, (1 << self.bits) - 1)


def button(name: str, doc: str = "") -> InputField:
    """A digital button (1 bit). Released when an input is repeated for a missing tick."""
    return InputField(name, 1, release=True, doc=doc)


def buttons(name: str, count: int, doc: str = "") -> InputField:
    """``count`` digital buttons as one bit mask, all released when an input is repeated."""
    return InputField(name, count, release=True, doc=doc)


def axis(name: str, doc: str = "") -> InputField:
    """A digital axis: -1, 0 or 1 (2 bits)."""
    return InputField(name, 2, signed=True, lo=-1, hi=1, doc=doc)


def angle(name: str, bits: int = 12, doc: str = "") -> InputField:
    """An angle in ``2**bits`` steps (wraps); kept when an input is missing; smooth."""
    return InputField(name, bits, wrap=True, hold=True, smooth=True, doc=doc)


def direction(name: str, bits: int = 8, doc: str = "") -> InputField:
    """A heading in ``2**bits`` steps (an 8-bit direction: 1.4° steps); wraps, kept when an input is missing."""
    return InputField(name, bits, wrap=True, hold=True, doc=doc)


def analog(name: str, bits: int, *, signed: bool = False, lo: int | None = None, hi: int | None = None,
           hold: bool = False, smooth: bool = False, doc: str = "") -> InputField:
    """An analog value (a trigger, a stick axis, a throttle) in ``lo..hi``."""
    return InputField(name, bits, signed=signed, lo=lo, hi=hi, hold=hold, smooth=smooth, doc=doc)


class InputSchema:
    """A game's input record: fields, their packing, and the vectorised encode/decode/sanitise."""

    def __init__(self, fields: Iterable[InputField]):
        self.fields: tuple[InputField, ...] = tuple(fields)
        if not self.fields:
            raise ValueError("an input schema needs at least one field")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate input field names in {names}")
        offsets, off = [], 0
        for f in self.fields:
            offsets.append(off)
            off += f.bits
        if off > MAX_BITS:
            raise ValueError(f"an input record holds at most {MAX_BITS} bits, these fields need {off}")
        self.offsets: tuple[int, ...] = tuple(offsets)
        self.bits = off
        self.record_size = (off + 7) // 8
        self.names: tuple[str, ...] = tuple(names)
        self._index = {n: i for i, n in enumerate(names)}

        def mask_of(pred) -> int:
            m = 0
            for f, o in zip(self.fields, self.offsets):
                if pred(f):
                    m |= ((1 << f.bits) - 1) << o
            return m

        self.hold_mask = mask_of(lambda f: f.hold)
        self.release_mask = mask_of(lambda f: f.release)
        self.valid_bits = (1 << off) - 1
        # (offset, width mask, sign bit or 0, lo, hi) of the fields whose range is narrower than their bits
        self._checks = tuple((o, (1 << f.bits) - 1, (1 << (f.bits - 1)) if f.signed else 0, f.lo, f.hi)
                             for f, o in zip(self.fields, self.offsets) if not f.full_range)
        smooth = [i for i, f in enumerate(self.fields) if f.smooth]
        #: index of the field the replay codec codes by second differences (the first smooth one), or None
        self.smooth: int | None = smooth[0] if smooth else None
        self._u_shifts = np.array(self.offsets, dtype=np.uint64)
        self._u_masks = np.array([(1 << f.bits) - 1 for f in self.fields], dtype=np.uint64)
        self._sign = np.array([(1 << (f.bits - 1)) if f.signed else 0 for f in self.fields], dtype=np.int64)
        self._span = np.array([1 << f.bits for f in self.fields], dtype=np.int64)
        self._any_signed = bool(self._sign.any())  # asked once per step: a Python bool, not an array reduction
        self._lo = np.array([f.lo for f in self.fields], dtype=np.int64)
        self._hi = np.array([f.hi for f in self.fields], dtype=np.int64)
        self._wrap = np.array([f.wrap for f in self.fields], dtype=bool)
        self._byte_shifts = np.arange(self.record_size, dtype=np.uint64) * np.uint64(8)

    # ------------------------------------------------------------------ description

    def __repr__(self) -> str:
        return f"InputSchema({', '.join(f'{f.name}:{f.bits}' for f in self.fields)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InputSchema) and self.fields == other.fields

    def __hash__(self) -> int:
        return hash(self.fields)

    @property
    def n_fields(self) -> int:
        return len(self.fields)

    def index(self, name: str) -> int:
        """Column of field ``name`` in a ``[P, F]`` input array."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no input field {name!r} (fields: {', '.join(self.names)})") from None

    def describe(self) -> list[dict[str, Any]]:
        """The fields as plain dicts (for ``netcode games --json`` and handshakes)."""
        return [{"name": f.name, "bits": f.bits, "offset": o, "lo": f.lo, "hi": f.hi, "signed": f.signed,
                 "wrap": f.wrap, "hold": f.hold, "release": f.release, "smooth": f.smooth}
                for f, o in zip(self.fields, self.offsets)]

    # ------------------------------------------------------------------ one record (Python ints)

    def pack(self, values: Sequence[int] | Mapping[str, int] | None = None, /, **named: int) -> int:
        """The packed record of ``values`` (field order, or by name; missing fields are 0). Out-of-range
        values raise ValueError; wrapping fields are taken modulo their range."""
        if isinstance(values, Mapping):
            named = {**values, **named}
            values = None
        if values is not None:
            if named:
                raise TypeError("give field values by position or by name, not both")
            if len(values) != len(self.fields):
                raise ValueError(f"expected {len(self.fields)} input values ({', '.join(self.names)}), "
                                 f"got {len(values)}")
            vals = values
        else:
            unknown = set(named) - set(self.names)
            if unknown:
                raise ValueError(f"unknown input fields {sorted(unknown)} (fields: {', '.join(self.names)})")
            vals = [named.get(n, 0) for n in self.names]
        p = 0
        for f, o, v in zip(self.fields, self.offsets, vals):
            v = operator.index(v)
            if f.wrap:
                v &= (1 << f.bits) - 1
            elif not f.lo <= v <= f.hi:
                raise ValueError(f"input field {f.name} must be in {f.lo}..{f.hi}, got {v}")
            p |= (v & ((1 << f.bits) - 1)) << o
        return p

    def unpack(self, packed: int) -> tuple[int, ...]:
        """Field values of a packed record (assumed valid: see ``valid``)."""
        out = []
        for f, o in zip(self.fields, self.offsets):
            v = (packed >> o) & ((1 << f.bits) - 1)
            if f.signed and v >> (f.bits - 1):
                v -= 1 << f.bits
            out.append(v)
        return tuple(out)

    def as_dict(self, packed: int) -> dict[str, int]:
        return dict(zip(self.names, self.unpack(packed)))

    def field(self, packed: int, name: str) -> int:
        """One field's value of a packed record."""
        i = self.index(name)
        f, o = self.fields[i], self.offsets[i]
        v = (packed >> o) & ((1 << f.bits) - 1)
        if f.signed and v >> (f.bits - 1):
            v -= 1 << f.bits
        return v

    def valid(self, packed: int) -> bool:
        """Whether a packed record off the wire is well-formed: no bits beyond the fields, every field in range."""
        if packed >> self.bits:
            return False
        for o, m, sign, lo, hi in self._checks:
            v = (packed >> o) & m
            if sign and v & sign:
                v -= m + 1
            if not lo <= v <= hi:
                return False
        return True

    def sanitize(self, values: Sequence[int]) -> int:
        """Pack untrusted values, clamping each field into its range (wrapping fields wrap)."""
        p = 0
        for f, o, v in zip(self.fields, self.offsets, values):
            v = int(v)
            if f.wrap:
                v &= (1 << f.bits) - 1
            else:
                v = min(max(v, f.lo), f.hi)
            p |= (v & ((1 << f.bits) - 1)) << o
        return p

    def fill(self, previous: int) -> int:
        """The input filled in for a missing one: "no input", but keeping the ``hold`` fields of ``previous``."""
        return previous & self.hold_mask

    def repeat(self, previous: int) -> int:
        """``previous`` repeated for a missing tick, with the ``release`` fields cleared."""
        return previous & ~self.release_mask

    # ------------------------------------------------------------------ bytes

    def to_bytes(self, packed: int) -> bytes:
        return packed.to_bytes(self.record_size, "little")

    def from_bytes(self, data, offset: int = 0) -> int:
        """The packed record at ``data[offset:offset + record_size]`` (not checked: see ``valid``)."""
        return int.from_bytes(data[offset:offset + self.record_size], "little")

    def encode_many(self, packed: np.ndarray | Sequence[int]) -> bytes:
        """Records of many packed inputs, back to back (``record_size`` bytes each)."""
        p = np.asarray(packed, dtype=np.uint64)
        b = ((p[:, None] >> self._byte_shifts[None, :]) & np.uint64(0xFF)).astype(np.uint8)
        return b.tobytes()

    def decode_many(self, data, count: int) -> np.ndarray:
        """uint64 ``[count]`` packed records from ``count * record_size`` bytes."""
        b = np.frombuffer(data, dtype=np.uint8, count=count * self.record_size).reshape(count, self.record_size)
        return (b.astype(np.uint64) << self._byte_shifts[None, :]).sum(axis=1, dtype=np.uint64)

    # ------------------------------------------------------------------ whole arrays

    def unpack_many(self, packed: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """int32 ``[P, F]`` field values of uint64 packed records ``[P]`` (what ``Game.step`` receives)."""
        p = np.asarray(packed, dtype=np.uint64)
        u = ((p[:, None] >> self._u_shifts[None, :]) & self._u_masks[None, :]).astype(np.int64)
        if self._any_signed:
            u = np.where(u & self._sign[None, :], u - self._span[None, :], u)
        if out is None:
            return u.astype(np.int32)
        out[...] = u
        return out

    def pack_many(self, values: np.ndarray) -> np.ndarray:
        """uint64 ``[P]`` packed records of an int ``[P, F]`` array, clamping like ``sanitize``."""
        v = np.asarray(values, dtype=np.int64)
        if v.ndim != 2 or v.shape[1] != len(self.fields):
            raise ValueError(f"expected an int array [P, {len(self.fields)}], got shape {v.shape}")
        v = np.where(self._wrap[None, :], v, np.clip(v, self._lo[None, :], self._hi[None, :]))
        u = (v & (self._span[None, :] - 1)).astype(np.uint64)
        return np.bitwise_or.reduce(u << self._u_shifts[None, :], axis=1)

    def zeros(self, players: int) -> np.ndarray:
        """int32 ``[P, F]`` of "no input" for every slot."""
        return np.zeros((players, len(self.fields)), dtype=np.int32)
