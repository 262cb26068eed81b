"""Player inputs: the per-player record, the per-tick batch, and sanitising of untrusted values."""

from __future__ import annotations

import operator
from typing import Any

import attrs
import numpy as np

from .config import SimConfig
from .fixed import ANGLE_MASK

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


@attrs.define(eq=False)
class InputBatch:
    """All player slots' inputs for one tick: ``move`` int8 [P, 2], ``aim`` int16 [P], ``buttons`` uint8 [P]."""

    move: np.ndarray
    aim: np.ndarray
    buttons: np.ndarray

    @classmethod
    def empty(cls, config: SimConfig) -> InputBatch:
        p = config.max_players
        return cls(np.zeros((p, 2), np.int8), np.zeros(p, np.int16), np.zeros(p, np.uint8))

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
        self.move[slot] = (inp.move_x, inp.move_y)
        self.aim[slot] = inp.aim
        self.buttons[slot] = inp.buttons

    def get(self, slot: int) -> PlayerInput:
        mx, my = self.move[slot].tolist()
        return PlayerInput(mx, my, int(self.aim[slot]), int(self.buttons[slot]))

    def copy(self) -> InputBatch:
        return InputBatch(self.move.copy(), self.aim.copy(), self.buttons.copy())


def _checked_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {type(value).__name__}") from None


def _int_array(name: str, a: Any, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind not in "iub" or a.shape != shape:
        raise ValueError(f"{name} must be an integer array of shape {shape}, got {a.dtype} {a.shape}")
    return a.astype(np.int64)


def sanitize(inputs):
    """Clamp untrusted input: move -> sign in {-1, 0, 1}, aim -> mod 4096, unknown button bits dropped.

    Accepts a PlayerInput (returns a new PlayerInput) or an InputBatch (returns a
    new InputBatch).  Non-integer values or wrong array shapes raise ValueError.
    """
    if isinstance(inputs, PlayerInput):
        mx = _checked_int("move_x", inputs.move_x)
        my = _checked_int("move_y", inputs.move_y)
        aim = _checked_int("aim", inputs.aim)
        buttons = _checked_int("buttons", inputs.buttons)
        return PlayerInput((mx > 0) - (mx < 0), (my > 0) - (my < 0), aim & ANGLE_MASK, buttons & KNOWN_BUTTONS)
    if isinstance(inputs, InputBatch):
        p = len(np.asarray(inputs.aim))
        move = _int_array("move", inputs.move, (p, 2))
        aim = _int_array("aim", inputs.aim, (p,))
        buttons = _int_array("buttons", inputs.buttons, (p,))
        return InputBatch(np.sign(move).astype(np.int8), (aim & ANGLE_MASK).astype(np.int16),
                          (buttons & KNOWN_BUTTONS).astype(np.uint8))
    raise ValueError(f"cannot sanitize {type(inputs).__name__}")
