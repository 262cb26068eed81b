"""The arena's input record: two digital axes, a fire button and a 12-bit aim (17 bits, 3 bytes).

``step`` takes the int32 ``[P, 4]`` array of these fields (``INPUTS.unpack_many``); ``PlayerInput`` and
``InputBatch`` are conveniences for code that builds inputs by hand (tests, benchmarks).
"""

from __future__ import annotations

import operator
from typing import Any

import attrs
import numpy as np

from ...game.fixed import ANGLE_MASK
from ...game.inputs import InputSchema, angle, axis, button
from .config import SimConfig

INPUTS = InputSchema([
    axis("move_x", "left -1, right +1"),
    axis("move_y", "up -1, down +1"),
    button("fire", "hold to shoot (a lag-compensated action: it carries the player's view)"),
    angle("aim", 12, "0 = +x, growing towards +y (clockwise on screen), 4096 steps"),
])
MOVE_X, MOVE_Y, FIRE, AIM = range(4)
BUTTON_FIRE = 1
KNOWN_BUTTONS = BUTTON_FIRE


@attrs.frozen
class PlayerInput:
    """One player's input for one tick: move axes in {-1, 0, 1}, aim angle 0..4095, button bits."""

    move_x: int = 0
    move_y: int = 0
    aim: int = 0
    buttons: int = 0

    @property
    def fire(self) -> bool:
        return bool(self.buttons & BUTTON_FIRE)

    def pack(self) -> int:
        """The packed record (values sanitised)."""
        return INPUTS.sanitize((self.move_x, self.move_y, self.buttons & BUTTON_FIRE, self.aim))

    @classmethod
    def unpack(cls, packed: int) -> PlayerInput:
        mx, my, fire, aim = INPUTS.unpack(packed)
        return cls(mx, my, aim, fire)


class InputBatch:
    """All player slots' inputs for one tick: ``array`` int32 [P, 4] with views ``move`` [P, 2], ``buttons`` [P]
    and ``aim`` [P] into it."""

    def __init__(self, array: np.ndarray):
        if np.ndim(array) != 2 or np.shape(array)[1] != len(INPUTS.fields):
            raise ValueError(f"an InputBatch is an array [P, {len(INPUTS.fields)}], got shape {np.shape(array)}")
        self.array = array
        self.move = array[:, MOVE_X:MOVE_Y + 1]
        self.buttons = array[:, FIRE]
        self.aim = array[:, AIM]

    @classmethod
    def empty(cls, config: SimConfig) -> InputBatch:
        return cls(INPUTS.zeros(config.max_players))

    @classmethod
    def from_inputs(cls, config: SimConfig, inputs: dict[int, PlayerInput]) -> InputBatch:
        batch = cls.empty(config)
        for slot, inp in inputs.items():
            batch.set(slot, inp)
        return batch

    def set(self, slot: int, inp: PlayerInput) -> None:
        """Store a (sanitised) PlayerInput in ``slot``."""
        if not 0 <= slot < len(self.aim):
            raise IndexError(f"slot {slot} out of range")
        inp = sanitize(inp)
        self.array[slot] = (inp.move_x, inp.move_y, inp.buttons, inp.aim)

    def get(self, slot: int) -> PlayerInput:
        mx, my, b, a = self.array[slot].tolist()
        return PlayerInput(mx, my, a, b)

    def copy(self) -> InputBatch:
        return InputBatch(self.array.copy())


def _checked_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}") from None


def as_array(inputs, players: int) -> np.ndarray:
    """The int64 ``[P, 4]`` input array of an InputBatch or array, clamped like ``sanitize`` (ValueError for the
    wrong shape or a non-integer dtype)."""
    a = np.asarray(inputs.array if isinstance(inputs, InputBatch) else inputs)
    if a.dtype.kind not in "iub" or a.shape != (players, 4):
        raise ValueError(f"inputs must be an integer array of shape ({players}, 4), got {a.dtype} {a.shape}")
    a = a.astype(np.int64)
    out = np.empty_like(a)
    np.sign(a[:, MOVE_X:MOVE_Y + 1], out=out[:, MOVE_X:MOVE_Y + 1])
    np.bitwise_and(a[:, FIRE], KNOWN_BUTTONS, out=out[:, FIRE])
    np.bitwise_and(a[:, AIM], ANGLE_MASK, out=out[:, AIM])
    return out


def sanitize(inputs):
    """Clamp untrusted input: move -> sign in {-1, 0, 1}, aim -> mod 4096, unknown button bits dropped.

    Accepts a PlayerInput (returns a new PlayerInput) or an InputBatch (returns a new InputBatch).
    Non-integer values or wrong array shapes raise ValueError.
    """
    if isinstance(inputs, PlayerInput):
        mx = _checked_int("move_x", inputs.move_x)
        my = _checked_int("move_y", inputs.move_y)
        aim = _checked_int("aim", inputs.aim)
        buttons = _checked_int("buttons", inputs.buttons)
        return PlayerInput((mx > 0) - (mx < 0), (my > 0) - (my < 0), aim & ANGLE_MASK, buttons & KNOWN_BUTTONS)
    if isinstance(inputs, InputBatch):
        return InputBatch(as_array(inputs, len(inputs.aim)).astype(np.int32))
    raise ValueError(f"cannot sanitize {type(inputs).__name__}")
