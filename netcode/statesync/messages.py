"""Game messages carried in transport messages: the first byte says which. See docs/PROTOCOL.md.

Hot messages (inputs, snapshots) are packed with struct; rare ones (welcome, events, scores) are
msgpack. Decoders raise only WireError.
"""
from __future__ import annotations

import struct

import msgpack

from ..wire.errors import WireError

# client -> server
INPUT = 1
CHAT = 2
# server -> client
WELCOME = 10
SNAPSHOT = 11
EVENTS = 12
SCOREBOARD = 13
SHOT_RESULT = 14
SNAPSHOT_HELD = 15  # a SNAPSHOT in which some entities were not updated (the bandwidth budget deferred them)

NO_TICK = 0xFFFFFFFF
MAX_INPUTS_PER_MESSAGE = 16
MAX_CHAT = 200
FRAC_ONE = 1 << 16  # interpolation fraction scale (u16 fraction of one tick)

_INPUT_HDR = struct.Struct("<BIIB")  # type, newest snapshot tick decoded, tick of first input, count
_VIEW = struct.Struct("<IH")  # snapshot tick interpolated from, fraction (of FRAC_ONE)
_SNAP_HDR = struct.Struct("<BIh")  # type, newest input tick applied, input margin (0.1 ms units)
_U16 = struct.Struct("<H")


class TickInput:
    """One input (the game's packed record) for one server tick, plus what the client saw when it was
    made (for rewind; sent only with an action)."""

    __slots__ = ("tick", "input", "view_tick", "view_frac")

    def __init__(self, tick: int, inp: int, view_tick: int = NO_TICK, view_frac: int = 0):
        self.tick = tick
        self.input = inp
        self.view_tick = view_tick
        self.view_frac = view_frac

    def __eq__(self, other):
        return isinstance(other, TickInput) and (self.tick, self.input, self.view_tick, self.view_frac) == (
            other.tick, other.input, other.view_tick, other.view_frac)

    def __repr__(self):
        return f"TickInput({self.tick}, {self.input:#x}, view={self.view_tick}+{self.view_frac})"


class InputCodec:
    """INPUT messages of one game: each entry is the game's input record (``record_size`` bytes, see
    netcode.game.inputs), followed by the view (u32 tick, u16 fraction) when the record is an action
    (its ``action_field`` is non-zero; games without lag compensation never send one)."""

    def __init__(self, schema, action_field: str | None = None):
        self.schema = schema
        self.size = schema.record_size
        self.action_mask = 0
        if action_field is not None:
            i = schema.index(action_field)
            f = schema.fields[i]
            self.action_mask = ((1 << f.bits) - 1) << schema.offsets[i]

    def encode(self, snapshot_ack: int, inputs: list[TickInput]) -> bytes:
        """INPUT: consecutive ticks, oldest first (the redundant tail repeats unacknowledged ones)."""
        if not 0 < len(inputs) <= MAX_INPUTS_PER_MESSAGE:
            raise ValueError(f"1..{MAX_INPUTS_PER_MESSAGE} inputs per message")
        first = inputs[0].tick
        parts = [_INPUT_HDR.pack(INPUT, snapshot_ack & 0xFFFFFFFF, first, len(inputs))]
        size, action = self.size, self.action_mask
        for i, ti in enumerate(inputs):
            if ti.tick != first + i:
                raise ValueError("inputs must be for consecutive ticks")
            parts.append(ti.input.to_bytes(size, "little"))
            if ti.input & action:
                parts.append(_VIEW.pack(ti.view_tick & 0xFFFFFFFF, ti.view_frac & 0xFFFF))
        return b"".join(parts)

    def decode(self, data: bytes) -> tuple[int, list[TickInput]]:
        """(snapshot ack, inputs); a record with a field out of range is malformed (WireError)."""
        if len(data) < _INPUT_HDR.size:
            raise WireError("short input message")
        _, ack, first, count = _INPUT_HDR.unpack_from(data)
        if not 0 < count <= MAX_INPUTS_PER_MESSAGE:
            raise WireError("bad input count")
        off = _INPUT_HDR.size
        size, action, valid = self.size, self.action_mask, self.schema.valid
        out = []
        for i in range(count):
            if off + size > len(data):
                raise WireError("truncated input")
            packed = int.from_bytes(data[off:off + size], "little")
            off += size
            if not valid(packed):
                raise WireError("input record out of range")
            view_tick, view_frac = NO_TICK, 0
            if packed & action:
                if off + _VIEW.size > len(data):
                    raise WireError("truncated view")
                view_tick, view_frac = _VIEW.unpack_from(data, off)
                off += _VIEW.size
            out.append(TickInput((first + i) & 0xFFFFFFFF, packed, view_tick, view_frac))
        if off != len(data):
            raise WireError("trailing bytes after inputs")
        return ack, out


NO_MARGIN = -32768


def encode_snapshot_message(input_tick: int, margin: float | None, snapshot: bytes) -> bytes:
    """SNAPSHOT: the newest input tick applied for this client (reconciliation), how early its
    inputs arrive in seconds (clock sync; None before any arrived), and the encoded snapshot
    (docs/SNAPSHOT.md)."""
    m = NO_MARGIN if margin is None else max(-32767, min(32767, int(round(margin * 1e4))))
    return _SNAP_HDR.pack(SNAPSHOT, input_tick & 0xFFFFFFFF, m) + snapshot


def encode_held_snapshot_message(input_tick: int, margin: float | None, held: bytes, snapshot: bytes) -> bytes:
    """SNAPSHOT_HELD: a SNAPSHOT plus which of its entities were not updated in it: ``held`` is a bit mask over
    the rows of the decoded table (ascending ids; bit i of byte i // 8, LSB first) whose values are the ones the
    client already held from an earlier snapshot (the bandwidth budget deferred them), not this tick's."""
    m = NO_MARGIN if margin is None else max(-32767, min(32767, int(round(margin * 1e4))))
    return _SNAP_HDR.pack(SNAPSHOT_HELD, input_tick & 0xFFFFFFFF, m) + _U16.pack(len(held)) + held + snapshot


def decode_snapshot_message(data: bytes) -> tuple[int, float | None, bytes, bytes | None]:
    """SNAPSHOT or SNAPSHOT_HELD -> (input tick, margin s or None, snapshot bytes, held mask bytes or None)."""
    if len(data) < _SNAP_HDR.size:
        raise WireError("short snapshot message")
    kind, input_tick, m = _SNAP_HDR.unpack_from(data)
    margin = None if m == NO_MARGIN else m / 1e4
    if kind != SNAPSHOT_HELD:
        return input_tick, margin, data[_SNAP_HDR.size:], None
    off = _SNAP_HDR.size
    if len(data) < off + 2:
        raise WireError("short snapshot message")
    (n,) = _U16.unpack_from(data, off)
    off += 2
    if len(data) < off + n:
        raise WireError("short snapshot message")
    return input_tick, margin, data[off + n:], data[off:off + n]


def encode_chat(text: str) -> bytes:
    raw = text.encode("utf-8")[:MAX_CHAT]
    return bytes((CHAT,)) + raw


def decode_chat(data: bytes) -> str:
    if len(data) > 1 + MAX_CHAT:
        raise WireError("chat too long")
    return data[1:].decode("utf-8", errors="replace")


def encode_events(items: list, limit: int) -> list[bytes]:
    """EVENTS messages holding ``items`` in order, each at most ``limit`` bytes (an item too big alone is
    dropped: no single event may be larger than a message can be)."""
    out, batch, size = [], [], 6  # the type byte and the longest msgpack array header
    for item in items:
        n = len(msgpack.packb(item, use_bin_type=True))
        if n + 8 > limit:
            continue
        if batch and size + n > limit:
            out.append(encode_packed(EVENTS, batch))
            batch, size = [], 6
        batch.append(item)
        size += n
    if batch:
        out.append(encode_packed(EVENTS, batch))
    return out


def encode_packed(kind: int, obj) -> bytes:
    """WELCOME / EVENTS / SCOREBOARD: a type byte and a msgpack body."""
    return bytes((kind,)) + msgpack.packb(obj, use_bin_type=True)


def decode_packed(data: bytes):
    try:
        return msgpack.unpackb(data[1:], raw=False, strict_map_key=False)
    except Exception as e:  # msgpack raises several types for malformed input
        raise WireError(f"bad msgpack body: {type(e).__name__}") from None


def message_type(data: bytes) -> int:
    if not data:
        raise WireError("empty message")
    return data[0]
