"""Area of interest: which entities each viewer (client) sees, via a uniform grid.

Visibility rule for one (viewer, entity) pair, with exact int64 squared
Euclidean distances::

    visible_now = present and (d2 <= enter**2 or (visible_before and d2 <= leave**2))
                  or entity == always

``leave_radius >= enter_radius`` gives hysteresis: an entity between the two
circles keeps whatever state it had, so it cannot flicker on the border.  The
``always`` entity (the viewer's own player, -1 for none) is visible even when it
is not present, exactly as the rule reads.

``GridAOI.update`` handles all viewers with a fixed number of whole-array numpy
calls (no per-viewer Python loop):

1. entities are bucketed by grid cell with one radix argsort plus a bincount;
2. each viewer's leave circle is cut into grid columns; per column, the cells
   fully inside the enter circle are accepted wholesale and only the cells above
   and below them (up to the leave circle's chord) become candidates;
3. candidates get exact int64 distance tests; ring candidates (between the two
   circles) stay visible only if they were visible at the previous update;
4. a per-(viewer, entity) stamp table answers "visible last update?" in O(1)
   and yields entered/left; the sorted output is the previous sorted set minus
   ``left`` with ``entered`` merged in, so no full sort is needed.

``brute_force_visible`` is the plain per-viewer numpy oracle it is tested and
benchmarked against (``netcode.bench.aoi``).

Coordinate limits: entity positions are any integers (values beyond +-2**30 are
clamped, which cannot change visibility, see ``_ENT_CLAMP``); viewer positions and
radii must lie within +-2**29 units (33M pixels at 16 sub-pixels per pixel).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import attrs
import numpy as np

# Viewer coordinates and radii are bounded by _VIEW_LIMIT so that, once entity
# coordinates are clamped to +-_ENT_CLAMP, every coordinate difference is below
# 2**31 and dx*dx + dy*dy cannot overflow int64.  The clamp keeps visibility
# unchanged: a clamped entity is still more than _VIEW_LIMIT >= leave_radius away
# from every viewer along that axis.
_VIEW_LIMIT = 1 << 29
_ENT_CLAMP = (1 << 30) + 1
_MAX_CELLS = 1 << 22
_MAX_VIEWER_ID = (1 << 31) - 1
_MAX_WORLD = 1 << 31

# Stamps 1.._STAMP_PERIOD (0 = never seen) cycle; the table is wiped once per
# cycle so a stale stamp can never equal the previous update's.
_STAMP_PERIOD = 255


def _stamp(tick: int) -> int:
    return tick % _STAMP_PERIOD + 1


_EMPTY = np.empty(0, dtype=np.int64)
_EMPTY.setflags(write=False)


@attrs.frozen
class ViewerSpec:
    """One viewer's parameters: position, enter/leave radii and its always-visible entity (-1: none)."""

    x: int
    y: int
    enter_radius: int
    leave_radius: int
    always: int = -1


def _check_viewer(viewer_id: int, x: int, y: int, enter_radius: int, leave_radius: int, always: int) -> None:
    if not 0 <= viewer_id <= _MAX_VIEWER_ID:
        raise ValueError(f"viewer_id {viewer_id} outside [0, 2**31)")
    if not (-_VIEW_LIMIT <= x <= _VIEW_LIMIT and -_VIEW_LIMIT <= y <= _VIEW_LIMIT):
        raise ValueError(f"viewer position ({x}, {y}) outside +-2**29")
    if not 0 <= enter_radius <= leave_radius <= _VIEW_LIMIT:
        raise ValueError(f"need 0 <= enter_radius ({enter_radius}) <= leave_radius ({leave_radius}) <= 2**29")
    if always < -1:
        raise ValueError(f"always must be an entity index or -1, got {always}")


def _check_entities(pos: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.asarray(pos)
    present = np.asarray(present)
    if pos.ndim != 2 or pos.shape[1] != 2 or not np.issubdtype(pos.dtype, np.integer):
        raise ValueError(f"pos must be an integer array of shape (N, 2), got {pos.dtype} {pos.shape}")
    if present.dtype != np.bool_ or present.shape != (pos.shape[0],):
        raise ValueError(f"present must be a bool array of shape ({pos.shape[0]},), got {present.dtype} {present.shape}")
    return pos, present


def _segment_offsets(keys: np.ndarray, n_rows: int, shift: int) -> np.ndarray:
    return np.searchsorted(keys, np.arange(n_rows + 1, dtype=np.int64) << shift)


@attrs.frozen(eq=False)
class AOIResult:
    """Visibility after one ``GridAOI.update``, as flat arrays plus per-viewer accessors.

    ``viewer_ids`` is sorted.  For row ``i`` (viewer ``viewer_ids[i]``) its visible
    entities are ``pairs_entity[offsets[i]:offsets[i+1]]``, so all pairs are sorted
    by (viewer, entity); ``pairs_viewer`` gives the viewer id of each pair.
    ``entered_*`` and ``left_*`` use the same layout.  Viewers removed before the
    update are absent (no ``left`` events are reported for them).  The ``*_viewer``
    arrays and the entered/left arrays are derived on first access.
    """

    viewer_ids: np.ndarray
    offsets: np.ndarray
    pairs_entity: np.ndarray
    shift: int = attrs.field(repr=False)
    entered_keys: np.ndarray = attrs.field(repr=False)
    left_keys: np.ndarray = attrs.field(repr=False)

    @functools.cached_property
    def pairs_viewer(self) -> np.ndarray:
        """Viewer id of every visible pair."""
        return np.repeat(self.viewer_ids, np.diff(self.offsets))

    @functools.cached_property
    def entered_offsets(self) -> np.ndarray:
        """Per-viewer offsets into ``entered_entity``/``entered_viewer``."""
        return _segment_offsets(self.entered_keys, len(self.viewer_ids), self.shift)

    @functools.cached_property
    def entered_entity(self) -> np.ndarray:
        """Entities that became visible, grouped by viewer, sorted."""
        return self.entered_keys & ((1 << self.shift) - 1)

    @functools.cached_property
    def entered_viewer(self) -> np.ndarray:
        """Viewer id of every entered pair."""
        return self.viewer_ids[self.entered_keys >> self.shift]

    @functools.cached_property
    def left_offsets(self) -> np.ndarray:
        """Per-viewer offsets into ``left_entity``/``left_viewer``."""
        return _segment_offsets(self.left_keys, len(self.viewer_ids), self.shift)

    @functools.cached_property
    def left_entity(self) -> np.ndarray:
        """Entities that stopped being visible, grouped by viewer, sorted."""
        return self.left_keys & ((1 << self.shift) - 1)

    @functools.cached_property
    def left_viewer(self) -> np.ndarray:
        """Viewer id of every left pair."""
        return self.viewer_ids[self.left_keys >> self.shift]

    def _row(self, viewer_id: int) -> int:
        i = int(np.searchsorted(self.viewer_ids, viewer_id))
        if i == len(self.viewer_ids) or self.viewer_ids[i] != viewer_id:
            raise KeyError(viewer_id)
        return i

    def visible(self, viewer_id: int) -> np.ndarray:
        """Sorted entity indices the viewer sees now."""
        i = self._row(viewer_id)
        return self.pairs_entity[self.offsets[i] : self.offsets[i + 1]]

    def entered(self, viewer_id: int) -> np.ndarray:
        """Sorted entity indices visible now but not at the previous update."""
        i = self._row(viewer_id)
        return self.entered_entity[self.entered_offsets[i] : self.entered_offsets[i + 1]]

    def left(self, viewer_id: int) -> np.ndarray:
        """Sorted entity indices visible at the previous update but not now."""
        i = self._row(viewer_id)
        return self.left_entity[self.left_offsets[i] : self.left_offsets[i + 1]]


class GridAOI:
    """Area-of-interest manager over a uniform grid (spatial hash), vectorised over all viewers.

    ``world_size`` (width, height) in world units sets the grid extent; entities
    and viewers outside it are still handled exactly (off-map entities land in
    the edge cells).  ``cell_size`` trades candidate count against per-column
    work: a quarter to a sixth of the typical leave radius is fastest (measured
    with ``netcode.bench.aoi``: cell = leave is ~30% slower, leave/2 ~5-15% slower).

    Visibility state between updates is kept per viewer; ``set_viewer`` adds or
    moves a viewer, ``remove_viewer`` drops it and its state.
    """

    def __init__(self, cell_size: int, world_size: tuple[int, int]) -> None:
        cell_size = int(cell_size)
        width, height = (int(v) for v in world_size)
        if not (0 < cell_size and 0 < width <= _MAX_WORLD and 0 < height <= _MAX_WORLD):
            raise ValueError(f"need cell_size > 0 and 0 < world_size <= 2**31, got {cell_size}, {world_size}")
        self.cell_size = cell_size
        self.world_size = (width, height)
        self._gx = -(-width // cell_size)
        self._gy = -(-height // cell_size)
        self._ncells = self._gx * self._gy
        if self._ncells > _MAX_CELLS:
            raise ValueError(f"{self._ncells} grid cells: cell_size {cell_size} is too small for world {world_size}")
        self._cell_shift = cell_size.bit_length() - 1 if cell_size & (cell_size - 1) == 0 else None
        # Radix (O(n)) argsort needs 16-bit keys.
        self._key_dtype = np.uint16 if self._ncells < 1 << 16 else np.int64

        # Viewer rows are kept sorted by viewer id, so row order == output order.
        self._vids = np.empty(0, dtype=np.int64)
        self._params = np.empty((0, 5), dtype=np.int64)  # x, y, enter, leave, always
        self._row: dict[int, int] = {}

        # Visibility state: previous visible pairs as sorted flat keys
        # (row << shift | entity) in the layout of the last update, plus a
        # (rows x 2**shift) uint8 table used for O(1) membership tests (see update).
        self._shift = 10
        self._mat_vids = self._vids
        self._prev_flat = _EMPTY
        self._mat = np.zeros(0, dtype=np.uint8)
        self._tick = 0
        self._layout_dirty = False
        self._dropped: set[int] = set()
        self._arange = np.arange(1 << 16, dtype=np.int64)

    # ------------------------------------------------------------------ viewers

    @property
    def viewer_ids(self) -> np.ndarray:
        """Sorted ids of the current viewers (a copy)."""
        return self._vids.copy()

    def viewer_specs(self) -> dict[int, ViewerSpec]:
        """Current viewers as ``{viewer_id: ViewerSpec}`` (e.g. for ``brute_force_visible``)."""
        return {vid: ViewerSpec(*(int(v) for v in self._params[row])) for vid, row in self._row.items()}

    def set_viewer(
        self, viewer_id: int, x: int, y: int, enter_radius: int, leave_radius: int, always: int = -1
    ) -> None:
        """Add a viewer, or move/reconfigure an existing one (its visibility state is kept)."""
        viewer_id, x, y = int(viewer_id), int(x), int(y)
        enter_radius, leave_radius, always = int(enter_radius), int(leave_radius), int(always)
        _check_viewer(viewer_id, x, y, enter_radius, leave_radius, always)
        row = self._row.get(viewer_id)
        if row is not None:
            self._params[row] = (x, y, enter_radius, leave_radius, always)
            return
        at = int(np.searchsorted(self._vids, viewer_id))
        self._vids = np.insert(self._vids, at, viewer_id)
        self._vids.setflags(write=False)  # shared with AOIResult.viewer_ids
        self._params = np.insert(self._params, at, (x, y, enter_radius, leave_radius, always), axis=0)
        self._row = {v: i for i, v in enumerate(self._vids.tolist())}
        self._layout_dirty = True

    def set_viewers(
        self,
        viewer_ids: Iterable[int],
        x: Iterable[int],
        y: Iterable[int],
        enter_radius: Iterable[int] | int,
        leave_radius: Iterable[int] | int,
        always: Iterable[int] | int = -1,
    ) -> None:
        """Vectorised ``set_viewer`` for many viewers (scalars broadcast), e.g. moving all viewers each tick."""
        ids = np.asarray(viewer_ids, dtype=np.int64).ravel()
        cols = np.empty((len(ids), 5), dtype=np.int64)
        for j, v in enumerate((x, y, enter_radius, leave_radius, always)):
            cols[:, j] = v
        if len(ids) == 0:
            return
        lo, hi = cols.min(axis=0), cols.max(axis=0)
        if (
            ids.min() < 0
            or ids.max() > _MAX_VIEWER_ID
            or min(lo[0], lo[1]) < -_VIEW_LIMIT
            or max(hi[0], hi[1]) > _VIEW_LIMIT
            or lo[2] < 0
            or hi[3] > _VIEW_LIMIT
            or lo[4] < -1
            or (cols[:, 2] > cols[:, 3]).any()
        ):
            for i in range(len(ids)):
                _check_viewer(int(ids[i]), *(int(v) for v in cols[i]))
        if np.array_equal(ids, self._vids):  # the usual per-tick call: every viewer, in order
            self._params[:] = cols
            return
        if len(np.unique(ids)) != len(ids):
            raise ValueError("duplicate viewer ids")
        rows = np.searchsorted(self._vids, ids)
        known = rows < len(self._vids)
        known[known] = self._vids[rows[known]] == ids[known]
        self._params[rows[known]] = cols[known]
        for i in np.flatnonzero(~known):
            self.set_viewer(int(ids[i]), *(int(v) for v in cols[i]))

    def remove_viewer(self, viewer_id: int) -> None:
        """Remove a viewer and drop its visibility state (re-adding it starts from an empty set)."""
        viewer_id = int(viewer_id)
        row = self._row[viewer_id]
        self._vids = np.delete(self._vids, row)
        self._vids.setflags(write=False)
        self._params = np.delete(self._params, row, axis=0)
        self._row = {v: i for i, v in enumerate(self._vids.tolist())}
        self._dropped.add(viewer_id)
        self._layout_dirty = True

    def _relayout(self, n_entities: int) -> None:
        """Re-encode the previous visible set for the current viewer rows and entity capacity."""
        old_shift, old_vids, old_flat = self._shift, self._mat_vids, self._prev_flat
        while (1 << self._shift) < n_entities:
            self._shift += 1
        pv = old_vids[old_flat >> old_shift]
        pe = old_flat & ((1 << old_shift) - 1)
        keep = np.isin(pv, self._vids)
        if self._dropped:
            keep &= ~np.isin(pv, np.fromiter(self._dropped, dtype=np.int64))
        # Rows stay in viewer-id order, so re-encoded keys stay sorted.
        rows = np.searchsorted(self._vids, pv[keep])
        self._prev_flat = (rows << self._shift) | pe[keep]
        size = len(self._vids) << self._shift
        self._mat = np.zeros(size, dtype=np.uint8)
        self._mat[self._prev_flat] = _stamp(self._tick - 1)
        self._mat_vids = self._vids
        self._dropped.clear()
        self._layout_dirty = False

    def _restamp(self, cur: np.ndarray) -> None:
        """Wipe the stamp table except the current set, before stamps wrap around."""
        self._mat.fill(0)
        self._mat[cur] = _stamp(self._tick)

    def _aranged(self, n: int) -> np.ndarray:
        if n > len(self._arange):
            self._arange = np.arange(max(n, 2 * len(self._arange)), dtype=np.int64)
        return self._arange[:n]

    # ------------------------------------------------------------------ update

    def update(self, pos: np.ndarray, present: np.ndarray) -> AOIResult:
        """Compute visibility for all viewers from entity positions ``pos`` [N,2] and mask ``present`` [N].

        Entity indices are row numbers of ``pos``; N may change between updates
        (pairs of entities that no longer exist are reported as left).
        """
        pos, present = _check_entities(pos, present)
        n = pos.shape[0]
        params = self._params
        n_view = len(self._vids)
        always = params[:, 4]
        if n_view and int(always.max()) >= n:
            raise ValueError(f"an always-visible entity index is >= number of entities ({n})")
        if self._layout_dirty or n > (1 << self._shift):
            self._relayout(n)
        shift = self._shift
        c, gx, gy, ncells = self.cell_size, self._gx, self._gy, self._ncells

        # 1. Bucket entities by cell, x-major so that one grid column's cells are
        #    contiguous in the sorted order.  Absent entities go to an extra cell
        #    past the grid that no range ever covers.
        if pos.dtype not in (np.int32, np.int64):
            pos = pos.astype(np.int64)
        xy = np.ascontiguousarray(pos.T)  # ufuncs on strided columns are several times slower
        if n:
            lo, hi = int(xy.min()), int(xy.max())
            if lo < -_ENT_CLAMP or hi > _ENT_CLAMP:
                xy = np.clip(xy, -_ENT_CLAMP, _ENT_CLAMP)
            cxy = xy >> self._cell_shift if self._cell_shift is not None else xy // c
            cx, cy = cxy
            if lo < 0 or hi >= min(gx, gy) * c:
                np.clip(cx, 0, gx - 1, out=cx)
                np.clip(cy, 0, gy - 1, out=cy)
            cx *= gy
            cx += cy
            key = cx.astype(self._key_dtype)
            if not present.all():
                key[~present] = ncells
        else:
            key = np.empty(0, dtype=self._key_dtype)
        ex, ey = xy.astype(np.int64)
        order = np.argsort(key, kind="stable")
        sx, sy = ex[order], ey[order]
        cell_start = np.zeros(ncells + 2, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=ncells + 1), out=cell_start[1:])

        # 2. One range of sorted entities per (viewer, grid column), split in three:
        #    cells entirely inside the enter circle are visible without any test
        #    ("inner"); the cells below and above them ("boundary"), up to the leave
        #    circle's chord, are tested exactly.  Edge columns and rows also hold
        #    clipped off-map entities, so they are never inner and get the full chord.
        vx, vy, enter, leave = params[:, 0], params[:, 1], params[:, 2], params[:, 3]
        uniform = n_view > 0 and enter.min() == enter.max() and leave.min() == leave.max()
        cx0 = (vx - leave) // c
        np.clip(cx0, 0, gx - 1, out=cx0)
        ncol = (vx + leave) // c
        np.clip(ncol, 0, gx - 1, out=ncol)
        ncol -= cx0
        ncol += 1
        rrow = np.repeat(self._aranged(n_view), ncol)
        col = np.repeat(cx0 - (np.cumsum(ncol) - ncol), ncol)
        col += self._aranged(len(col))
        rvx, rvy = vx[rrow], vy[rrow]
        if uniform:
            leave2, enter2 = int(leave[0]) ** 2, int(enter[0]) ** 2
            r_leave2, r_enter2 = leave2, enter2
        else:
            r_leave2, r_enter2 = leave[rrow] ** 2, enter[rrow] ** 2
        lo = col * c
        lo -= rvx  # x offset of the column's first unit from the viewer
        hi = lo + (c - 1)
        far = np.maximum(-lo, hi)
        near = np.maximum(lo, -hi)
        np.maximum(near, 0, out=near)
        edge = (col == 0) | (col == gx - 1)
        near[edge] = 0
        # Chord half-heights; float sqrt is rounded outwards (outer) / inwards (inner) by 1.
        near *= near
        np.subtract(r_leave2, near, out=near)
        np.maximum(near, 0, out=near)
        h_out = np.sqrt(near, dtype=np.float64).astype(np.int64)
        h_out += 1
        far *= far
        np.subtract(r_enter2, far, out=far)
        far[edge] = -1
        no_inner = far < 0
        np.maximum(far, 0, out=far)
        h_in = np.sqrt(far, dtype=np.float64).astype(np.int64)
        h_in -= 1
        cy0 = rvy - h_out
        cy0 //= c
        np.clip(cy0, 0, gy - 1, out=cy0)
        cy1 = rvy + h_out
        cy1 //= c
        np.clip(cy1, 0, gy - 1, out=cy1)
        ci0 = h_in - rvy
        ci0 //= c
        np.negative(ci0, out=ci0)  # ceil((vy - h_in) / c): first cell starting at or after vy - h_in
        np.clip(ci0, np.maximum(cy0, 1), cy1 + 1, out=ci0)
        ci1 = rvy + h_in
        ci1 += 1
        ci1 //= c
        ci1 -= 1  # last cell ending at or before vy + h_in
        np.minimum(ci1, np.minimum(cy1, gy - 2), out=ci1)
        no_inner |= ci1 < ci0
        ci0[no_inner] = cy1[no_inner] + 1
        ci1[no_inner] = cy1[no_inner]
        base = col * gy
        s0 = cell_start[base + cy0]
        s1 = cell_start[base + ci0]
        s2 = cell_start[base + ci1 + 1]
        s3 = cell_start[base + cy1 + 1]
        rowsh = rrow << shift

        # 3a. Inner ranges: every entity is visible.
        n_in = s2 - s1
        si = np.repeat(s1 - (np.cumsum(n_in) - n_in), n_in)
        si += self._aranged(len(si))
        flat_in = np.repeat(rowsh, n_in)
        flat_in |= order[si]

        # 3b. Boundary ranges: exact int64 squared distances and hysteresis.
        b_start = np.concatenate((s0, s2))
        n_b = np.concatenate((s1, s3))
        n_b -= b_start
        si = np.repeat(b_start - (np.cumsum(n_b) - n_b), n_b)
        si += self._aranged(len(si))
        ent = order[si]
        d2 = sx[si]
        d2 -= np.repeat(np.concatenate((rvx, rvx)), n_b)
        dy = sy[si]
        dy -= np.repeat(np.concatenate((rvy, rvy)), n_b)
        d2 *= d2
        dy *= dy
        d2 += dy
        if uniform:
            in_enter = d2 <= enter2
            in_leave = d2 <= leave2
        else:
            in_enter = d2 <= np.repeat(np.concatenate((r_enter2, r_enter2)), n_b)
            in_leave = d2 <= np.repeat(np.concatenate((r_leave2, r_leave2)), n_b)
        flat_b = ent
        flat_b |= np.repeat(np.concatenate((rowsh, rowsh)), n_b)
        # The state table holds, per (viewer row, entity), the stamp of the last
        # update that saw the pair, so "visible at the previous update" is one
        # comparison and stale entries never need clearing (see _restamp).
        mat = self._mat
        st_prev, st_cur = _stamp(self._tick - 1), _stamp(self._tick)
        in_leave ^= in_enter  # enter <= leave, so this is "between the circles"
        ring = np.flatnonzero(in_leave)
        ring_flat = flat_b[ring]
        parts = [flat_in, flat_b[np.flatnonzero(in_enter)], ring_flat[mat[ring_flat] == st_prev]]

        # 4. "Always" pairs the grid did not already produce (same exact test, per
        #    viewer), then transitions from the stamps.
        arow = np.flatnonzero(always >= 0)
        if len(arow):
            a_ent = always[arow]
            adx = ex[a_ent] - vx[arow]
            ady = ey[a_ent] - vy[arow]
            ad2 = adx * adx + ady * ady
            aflat = (arow << shift) | a_ent
            a_enter, a_leave = (enter2, leave2) if uniform else (enter[arow] ** 2, leave[arow] ** 2)
            by_grid = present[a_ent] & ((ad2 <= a_enter) | ((ad2 <= a_leave) & (mat[aflat] == st_prev)))
            parts.append(aflat[~by_grid])
        cur = np.concatenate(parts)
        entered = cur[mat[cur] != st_prev]
        entered.sort()
        mat[cur] = st_cur
        prev_flat = self._prev_flat
        stay = mat[prev_flat] == st_cur
        left = prev_flat[~stay]
        # Most pairs persist, so the sorted current set is the sorted kept part of
        # the previous set with the few entered pairs merged in: no full sort.
        kept = prev_flat[stay]
        at = np.searchsorted(kept, entered)
        at += self._aranged(len(entered))
        is_kept = np.ones(len(kept) + len(entered), dtype=bool)
        is_kept[at] = False
        cur = np.empty(len(is_kept), dtype=np.int64)
        cur[is_kept] = kept
        cur[at] = entered
        if self._tick % _STAMP_PERIOD == _STAMP_PERIOD - 1:
            self._restamp(cur)
        self._prev_flat = cur
        self._tick += 1

        return AOIResult(
            viewer_ids=self._vids,
            offsets=_segment_offsets(cur, n_view, shift),
            pairs_entity=cur & ((1 << shift) - 1),
            shift=shift,
            entered_keys=entered,
            left_keys=left,
        )


def brute_force_visible(
    pos: np.ndarray,
    present: np.ndarray,
    viewers: Mapping[int, ViewerSpec],
    previous: Mapping[int, np.ndarray] | None = None,
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """O(N*V) reference: per viewer, numpy distances to every entity.

    ``previous`` maps viewer id to the entities it saw at the last update (missing:
    none).  Returns ``{viewer_id: (visible, entered, left)}``, each sorted.  This is
    the test oracle and the "numpy brute force" benchmark baseline: vectorised
    over entities, a Python loop over viewers, no spatial index.
    """
    pos, present = _check_entities(pos, present)
    n = pos.shape[0]
    x = pos[:, 0].astype(np.int64)
    y = pos[:, 1].astype(np.int64)
    previous = previous or {}
    out = {}
    for vid, v in viewers.items():
        prev = np.asarray(previous.get(vid, _EMPTY), dtype=np.int64)
        was = np.zeros(n, dtype=bool)
        was[prev[prev < n]] = True
        dx = x - v.x
        dy = y - v.y
        # The box test also makes the sum of squares safe: it may wrap around
        # int64 only where the box test already failed.
        near = (np.abs(dx) <= v.leave_radius) & (np.abs(dy) <= v.leave_radius)
        d2 = dx * dx + dy * dy
        vis = present & near & ((d2 <= v.enter_radius**2) | (was & (d2 <= v.leave_radius**2)))
        if 0 <= v.always < n:
            vis[v.always] = True
        visible = np.flatnonzero(vis)
        entered = np.setdiff1d(visible, prev, assume_unique=True)
        left = np.setdiff1d(prev, visible, assume_unique=True)
        out[vid] = (visible, entered, left)
    return out
