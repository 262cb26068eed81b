"""Events emitted by step(): small immutable records, ticks are the tick the step produced."""

from __future__ import annotations

import attrs


@attrs.frozen
class ShotFired:
    """``shooter`` fired from ``origin`` to ``end`` (sub-px points); ``hit`` is the entity hit or -1."""

    tick: int
    shooter: int
    origin: tuple[int, int]
    end: tuple[int, int]
    hit: int


@attrs.frozen
class Hit:
    """``target`` lost ``damage`` hp to ``shooter``."""

    tick: int
    shooter: int
    target: int
    damage: int


@attrs.frozen
class Kill:
    """``victim`` died; ``killer`` was credited a kill."""

    tick: int
    killer: int
    victim: int


@attrs.frozen
class Respawn:
    """``entity`` came back to life at full hp."""

    tick: int
    entity: int


GameEvent = ShotFired | Hit | Kill | Respawn
