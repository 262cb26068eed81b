"""Entity views: what a snapshot says about each entity, declared by the game.

A game names the int32 columns of its snapshot rows (the delta codec's ``SnapshotSchema``, see
docs/SNAPSHOT.md) and which two of them are the position. Once per tick the server asks the game for
an ``EntityView`` of the whole world (every entity's row, position and presence as whole arrays), runs
AOI on the positions and encodes each client's rows; clients interpolate the position columns and take
every other column from the snapshot nearest in time (Unity's ghost fields declare the same per field).
"""
from __future__ import annotations

import attrs
import numpy as np

from ..wire.snapshot import SnapshotSchema


def _fields(value) -> tuple[str, ...]:
    return tuple(str(v) for v in value)


@attrs.frozen
class EntitySchema:
    """Snapshot columns, the two position columns, the world units per pixel and the default view radius."""

    fields: tuple[str, ...] = attrs.field(converter=_fields)
    position: tuple[str, str] = attrs.field(default=("x", "y"), converter=_fields)
    units_per_px: int = 1  # world units per pixel: `--view-radius` and bot ranges are given in pixels
    view_radius: int = 600  # px: the default AOI radius for this game

    def __attrs_post_init__(self) -> None:
        SnapshotSchema(self.fields)  # 1..16 unique names, "id" reserved: one error message for both
        if len(self.position) != 2 or any(p not in self.fields for p in self.position):
            raise ValueError(f"position must name two of the fields {self.fields}, got {self.position}")
        if self.units_per_px < 1 or self.view_radius < 1:
            raise ValueError("units_per_px and view_radius must be >= 1")

    @property
    def snapshot(self) -> SnapshotSchema:
        return SnapshotSchema(self.fields)

    @property
    def n_fields(self) -> int:
        return len(self.fields)

    def index(self, name: str) -> int:
        try:
            return self.fields.index(name)
        except ValueError:
            raise KeyError(f"no entity field {name!r} (fields: {', '.join(self.fields)})") from None

    @property
    def position_columns(self) -> tuple[int, int]:
        return self.fields.index(self.position[0]), self.fields.index(self.position[1])


@attrs.frozen(eq=False)
class EntityView:
    """One tick's entities as whole arrays: ``values`` int32 ``[N, F]`` (snapshot rows, schema order),
    ``pos`` int ``[N, 2]`` (world units, for AOI and bandwidth priority), ``present`` bool ``[N]``
    (entities that exist and may be seen; the rest are never sent) and ``extent`` (width, height of the
    playing area in world units, which sizes the AOI grid; None: taken from the positions)."""

    values: np.ndarray
    pos: np.ndarray
    present: np.ndarray
    extent: tuple[int, int] | None = None
