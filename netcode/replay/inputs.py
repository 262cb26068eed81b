"""The TICKS input codec: per tick, which active slots' input records changed, and how (docs/REPLAY.md).

Inputs are the game's packed records (netcode.game.inputs). For each tick a TICKS body holds a bitmask
over the active slots (in slot order) of those whose record changed; each change then takes one byte of
the change stream. The schema's ``smooth`` field (an aim: bots and mice turn smoothly) is coded by its
second difference: a change of that field alone is the residual of its step against the slot's previous
step, in one byte (-126..127); ``JUMP`` is such a change carried as an absolute value in the extension
stream, and ``ESCAPE`` any other change: one extension entry holding every other field and a flag for
how the smooth field changed. Schemas without a smooth field code every change as an ESCAPE.

Extension entry (little-endian, ``ceil((other_bits + 2) / 8)`` bytes): bits 0-1 = 0 (smooth field
unchanged), 1 (a residual byte follows) or 2 (its absolute value follows, ``ceil(smooth_bits / 8)``
bytes); bits 2.. = the record with the smooth field's bits taken out.
"""
from __future__ import annotations

import numpy as np

from .format import FormatError, TickBlock

ESCAPE = 0x80  # in the change stream: "read an extension entry"
JUMP = 0x81  # in the change stream: "smooth-field-only change; its new value is in the extension stream"
RESIDUAL_MIN = -126  # smooth-field-only residuals in -126..127 are stored as themselves
_UNCHANGED, _RESIDUAL, _ABSOLUTE = 0, 1, 2


class _Layout:
    """Bit positions of a schema's smooth field and of the other fields around it."""

    def __init__(self, schema):
        self.schema = schema
        i = schema.smooth
        self.smooth = i is not None
        if self.smooth:
            f = schema.fields[i]
            self.off, self.bits = schema.offsets[i], f.bits
        else:
            self.off, self.bits = schema.bits, 0
        self.mask = ((1 << self.bits) - 1) << self.off
        self.half = 1 << (self.bits - 1) if self.bits else 0
        self.full = 1 << self.bits
        self.others = schema.bits - self.bits
        self.entry = (self.others + 2 + 7) // 8
        self.abs_size = (self.bits + 7) // 8
        self._low = (1 << self.off) - 1

    def value(self, packed: int) -> int:
        return (packed >> self.off) & (self.full - 1)

    def wrap(self, d: int) -> int:
        """``d`` as the nearest signed step of the smooth field."""
        return ((d + self.half) & (self.full - 1)) - self.half

    def compact(self, packed: int) -> int:
        return (packed & self._low) | ((packed >> (self.off + self.bits)) << self.off)

    def expand(self, compact: int, value: int) -> int:
        return (compact & self._low) | (value << self.off) | ((compact >> self.off) << (self.off + self.bits))


def _absolute(lay: _Layout, ext: bytes, ei: int) -> tuple[int, int]:
    """The smooth field's absolute value at ``ext[ei:]`` and the offset after it."""
    end = ei + lay.abs_size
    if end > len(ext):
        raise FormatError("TICKS extension stream is truncated")
    a = int.from_bytes(ext[ei:end], "little")
    if a >= lay.full:
        raise FormatError("TICKS smooth field out of range")
    return a, end


def _signed8(b: int) -> int:
    return b - 256 if b > 127 else b


class InputEncoder:
    """The writer's half: appends one tick of packed inputs to the current block's three streams."""

    NUMPY_FROM = 48  # active slots from which whole-array change detection beats a Python loop

    def __init__(self, schema, max_players: int):
        self.lay = _Layout(schema)
        self.max_players = max_players
        self.prev = [0] * max_players  # packed input per slot, as the reader will know it
        self.last_da = [0] * max_players
        self.slots: list[int] = []
        self._idx = np.empty(0, dtype=np.intp)
        self._contiguous = True
        self.masks = bytearray()
        self.changes = bytearray()
        self.ext = bytearray()

    def set_slots(self, slots) -> None:
        self.slots = sorted(int(s) for s in slots)
        self._idx = np.asarray(self.slots, dtype=np.intp)
        self._contiguous = self.slots == list(range(len(self.slots)))

    def reset_slot(self, slot: int) -> None:
        self.prev[slot] = 0
        self.last_da[slot] = 0

    def reset_all(self) -> None:
        self.prev = [0] * self.max_players
        self.last_da = [0] * self.max_players

    def take(self) -> tuple[bytes, bytes, bytes]:
        out = (bytes(self.masks), bytes(self.changes), bytes(self.ext))
        self.masks.clear()
        self.changes.clear()
        self.ext.clear()
        return out

    def add(self, packed: np.ndarray) -> None:
        """One tick: ``packed`` uint64 [P] (every player slot's record)."""
        n = len(self.slots)
        if not n:
            return
        if n >= self.NUMPY_FROM:
            cur = packed[self._idx]
            prev_arr = np.fromiter((self.prev[s] for s in self.slots), dtype=np.uint64, count=n)
            changed = cur != prev_arr
            self.masks += np.packbits(changed, bitorder="little").tobytes()
            where = np.flatnonzero(changed)
            if len(where):
                for slot, c in zip(self._idx[where].tolist(), cur[where].tolist()):
                    self._change(slot, c)
            return
        cur = packed[:n].tolist() if self._contiguous else packed[self._idx].tolist()
        prev = self.prev
        mask = 0
        for i, slot in enumerate(self.slots):
            c = cur[i]
            if c != prev[slot]:
                mask |= 1 << i
                self._change(slot, c)
        self.masks += mask.to_bytes((n + 7) // 8, "little")

    def _change(self, slot: int, c: int) -> None:
        lay = self.lay
        p = self.prev[slot]
        self.prev[slot] = c
        if not lay.smooth:
            self.changes.append(ESCAPE)
            self.ext += (lay.compact(c) << 2).to_bytes(lay.entry, "little")
            return
        a = lay.value(c)
        da = lay.wrap(a - lay.value(p))
        if (c ^ p) & ~lay.mask == 0:  # the smooth field only (and it did change)
            r = lay.wrap(da - self.last_da[slot])
            self.last_da[slot] = da
            if RESIDUAL_MIN <= r <= 127:
                self.changes.append(r & 0xFF)
            else:
                self.changes.append(JUMP)
                self.ext += a.to_bytes(lay.abs_size, "little")
            return
        self.changes.append(ESCAPE)
        tail = b""
        how = _UNCHANGED
        if da:
            r = lay.wrap(da - self.last_da[slot])
            if -128 <= r <= 127:
                how, tail = _RESIDUAL, bytes([r & 0xFF])
            else:
                how, tail = _ABSOLUTE, a.to_bytes(lay.abs_size, "little")
            self.last_da[slot] = da
        self.ext += ((lay.compact(c) << 2) | how).to_bytes(lay.entry, "little")
        self.ext += tail


class InputDecoder:
    """The reader's half: the same state, turning TICKS bodies back into per-tick record changes."""

    def __init__(self, schema, max_players: int):
        self.lay = _Layout(schema)
        self.valid = schema.valid
        self.max_players = max_players
        self.state: dict[int, list[int]] = {}  # slot -> [packed, last_da]
        self.slots: list[int] = []

    def set_slots(self, slots) -> None:
        self.slots = sorted(int(s) for s in slots)
        self.state = {s: self.state.get(s, [0, 0]) for s in self.slots}

    def join(self, slot: int) -> None:
        if slot not in self.state:
            self.slots = sorted(self.slots + [slot])
        self.state[slot] = [0, 0]

    def leave(self, slot: int) -> None:
        if slot in self.state:
            self.slots.remove(slot)
            del self.state[slot]

    def reset_all(self) -> None:
        self.state = {s: [0, 0] for s in self.slots}

    def decode(self, block: TickBlock) -> list[list[tuple[int, int]]]:
        """For each tick of the block, the changed slots as (slot, packed record)."""
        slots = self.slots
        n = len(slots)
        if block.n_slots != n:
            raise FormatError(f"TICKS record for {block.n_slots} slots, but {n} players are in the match")
        lay, valid = self.lay, self.valid
        stream, ext = block.changes, block.ext
        ei = ai = 0
        out = []
        state = self.state
        for changed in block.changed_rows():
            tick_changes = []
            for j in changed:
                slot = slots[j]
                st = state[slot]
                b = stream[ai]
                ai += 1
                if b == ESCAPE or not lay.smooth:
                    if b != ESCAPE:
                        raise FormatError("TICKS change stream has a residual for a game without a smooth field")
                    if ei + lay.entry > len(ext):
                        raise FormatError("TICKS extension stream is truncated")
                    word = int.from_bytes(ext[ei:ei + lay.entry], "little")
                    ei += lay.entry
                    how = word & 3
                    if how == 3 or (how and not lay.smooth):
                        raise FormatError("TICKS extension entry has bad flags")
                    value = lay.value(st[0])
                    if how == _RESIDUAL:
                        if ei >= len(ext):
                            raise FormatError("TICKS extension stream is truncated")
                        da = lay.wrap(st[1] + _signed8(ext[ei]))
                        ei += 1
                        value = (value + da) & (lay.full - 1)
                        st[1] = da
                    elif how == _ABSOLUTE:
                        a, ei = _absolute(lay, ext, ei)
                        st[1] = lay.wrap(a - value)
                        value = a
                    packed = lay.expand(word >> 2, value)
                elif b == JUMP:
                    a, ei = _absolute(lay, ext, ei)
                    st[1] = lay.wrap(a - lay.value(st[0]))
                    packed = (st[0] & ~lay.mask) | (a << lay.off)
                else:
                    da = lay.wrap(st[1] + _signed8(b))
                    a = (lay.value(st[0]) + da) & (lay.full - 1)
                    st[1] = da
                    packed = (st[0] & ~lay.mask) | (a << lay.off)
                if not valid(packed):
                    raise FormatError("TICKS input record out of range")
                st[0] = packed
                tick_changes.append((slot, packed))
            out.append(tick_changes)
        if ei != len(ext):
            raise FormatError("TICKS extension stream has trailing bytes")
        return out
