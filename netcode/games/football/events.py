"""Events of a football step."""
from __future__ import annotations

import attrs


@attrs.frozen
class Kick:
    """``player`` kicked the ball at ``power`` px/s."""

    tick: int
    player: int
    power: int


@attrs.frozen
class Goal:
    """``team`` scored; ``scorer`` is the player of that team who touched the ball last (-1: an own goal)."""

    tick: int
    team: int
    scorer: int
