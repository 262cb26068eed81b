"""Entity interpolation: draw everyone else a little in the past, between two snapshots we hold.

Valve, "Source Multiplayer Networking": the client renders other entities at (server time −
interpolation delay), the delay being two snapshot intervals by default so that one lost snapshot
still leaves two to interpolate between; when snapshots run out it extrapolates for a short time
(cl_extrapolate_amount, 0.25 s) and then stops. Gambetta, "Entity Interpolation", draws the same
picture. Positions come from `netcode.rewind.interpolate_positions`, the function the server uses
to rewind for lag compensation, so the `view` a shot carries reproduces exactly what was drawn.
"""
from __future__ import annotations

import bisect
from collections import deque

import attrs
import numpy as np

from .rewind import interpolate_positions

FRAC_ONE = 1 << 16
_FRAC_MAX = FRAC_ONE - 1


def _frac(part: float, whole: float) -> int:
    """`part / whole` as a u16 fraction of 65536, floored and clamped (one formula for drawing and for `view`)."""
    return min(_FRAC_MAX, max(0, int(part * FRAC_ONE // whole)))


@attrs.define(eq=False)
class Frame:
    """What to draw for the entities we hold at one instant.

    `values` int64 [n, F]: the snapshot rows (the game's entity fields) with the position columns
    interpolated; `pos` int64 [n, 2] those positions; rows match `ids` (ascending). `mode` is
    "interpolate", "extrapolate", "frozen" (extrapolated as far as allowed), "latest" (interpolation
    off), "waiting" (render time before the oldest snapshot) or "empty". `view` = (snapshot tick, u16
    fraction towards the next snapshot tick) for lag-compensated actions.
    """

    render_tick: float
    mode: str
    ids: np.ndarray
    values: np.ndarray
    pos: np.ndarray
    view: tuple[int, int]
    from_tick: int = -1
    to_tick: int = -1

    def __len__(self) -> int:
        return len(self.ids)

    def row(self, entity: int) -> int | None:
        i = int(np.searchsorted(self.ids, entity))
        return i if i < len(self.ids) and self.ids[i] == entity else None

    def without(self, entity: int) -> Frame:
        """This frame minus one entity (e.g. our own, drawn from prediction)."""
        r = self.row(entity)
        if r is None:
            return self
        keep = np.ones(len(self.ids), dtype=bool)
        keep[r] = False
        return Frame(self.render_tick, self.mode, self.ids[keep], self.values[keep], self.pos[keep], self.view,
                     self.from_tick, self.to_tick)


def latest_frame(tick: int, ids, values, position: tuple[int, int] = (0, 1), mode: str = "latest") -> Frame:
    """A frame that draws one table as it is (a snapshot, or a whole world's rows)."""
    v = np.asarray(values, dtype=np.int64)
    return Frame(float(tick), mode, np.asarray(ids, dtype=np.int64), v, v[:, list(position)].copy(), (tick, 0),
                 tick, tick)


def _row(ids: np.ndarray, entity: int) -> int | None:
    i = int(np.searchsorted(ids, entity))
    return i if i < len(ids) and ids[i] == entity else None


def _empty_frame(render_tick: float, n_fields: int, view=(0xFFFFFFFF, 0)) -> Frame:
    return Frame(render_tick, "empty", np.zeros(0, np.int64), np.zeros((0, n_fields), np.int64),
                 np.zeros((0, 2), np.int64), view)


class _WindowMax:
    """Maximum of the samples of the last `window` seconds (monotone deque)."""

    def __init__(self, window: float):
        self.window = window
        self._q: deque[tuple[float, float]] = deque()

    def add(self, now: float, value: float) -> None:
        q = self._q
        while q and q[-1][1] <= value:
            q.pop()
        q.append((now, value))
        self.expire(now)

    def expire(self, now: float) -> None:
        q = self._q
        while len(q) > 1 and q[0][0] < now - self.window:
            q.popleft()

    @property
    def value(self) -> float | None:
        return self._q[0][1] if self._q else None


class _WindowQuantile:
    """A high quantile of the samples of the last `window` seconds (recomputed only when they change)."""

    def __init__(self, window: float, q: float):
        self.window = window
        self.q = q
        self._q: deque[tuple[float, float]] = deque()
        self._cached: float | None = None

    def add(self, now: float, value: float) -> None:
        self._q.append((now, value))
        self._cached = None
        self.expire(now)

    def expire(self, now: float) -> None:
        q = self._q
        while len(q) > 1 and q[0][0] < now - self.window:
            q.popleft()
            self._cached = None

    @property
    def value(self) -> float | None:
        if not self._q:
            return None
        if self._cached is None:
            vals = sorted(v for _, v in self._q)
            self._cached = vals[min(len(vals) - 1, int(self.q * len(vals)))]
        return self._cached


class Interpolator:
    """Keeps recent snapshot tables, estimates the server's clock and renders at (server time − delay).

    The delay starts at `min_intervals` snapshot intervals and rises with how far the server's
    clock has recently run ahead of the newest snapshot held (the `jitter_quantile` of the last
    `jitter_window` seconds: arrival jitter and lost snapshots both show up there), falling back
    slowly once that calms down; the render clock slews (never jumps) towards it.
    """

    def __init__(self, tick_rate: int, snapshot_every: int = 1, *, enabled: bool = True, min_intervals: float = 2.0,
                 max_delay: float = 0.5, max_extrapolation: float = 0.25, margin_intervals: float = 0.5,
                 clock_window: float = 1.0, jitter_window: float = 3.0, jitter_quantile: float = 0.98,
                 max_speedup: float = 0.03, max_slowdown: float = 0.15, teleport_per_tick: int | None = None,
                 keep: int = 128, position: tuple[int, int] = (0, 1)):
        self.position = list(position)  # the two columns of the rows that are the position (interpolated)
        self.n_fields = 0
        self.rate = float(tick_rate)
        self.every = max(1, int(snapshot_every))
        self.enabled = enabled
        self.min_delay_ticks = min_intervals * self.every
        self.max_delay_ticks = max(max_delay * self.rate, self.min_delay_ticks)
        self.max_extrapolation_ticks = max_extrapolation * self.rate
        self.margin_ticks = margin_intervals * self.every
        self.max_speedup = max_speedup
        self.max_slowdown = max_slowdown
        self.teleport_per_tick = teleport_per_tick  # sub-px; None = never treat a move as a teleport
        self.keep = keep
        self._ticks: list[int] = []
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # tick -> (ids int64, values int32)
        self._offset = _WindowMax(clock_window)  # server tick - local time * rate, least delayed arrival
        # how far the server's clock ran ahead of the newest snapshot held, sampled at each arrival;
        # a quantile, not the maximum, so one freak delay costs a moment of extrapolation rather
        # than seconds of extra delay
        self._stale = _WindowQuantile(jitter_window, jitter_quantile)
        self._jitter = 0.0  # mean lateness of arrivals behind the least delayed one, ticks
        self._newest = -1
        # entity -> (tick of its last fresh sample, its position, velocity per tick, ticks held since): entities
        # the server's budget did not update (SNAPSHOT_HELD); their held samples are dead-reckoned, and redrawn on
        # the line to the next fresh sample once it comes (those not yet shown)
        self._pending: dict[int, tuple[int, np.ndarray, np.ndarray, list[int]]] = {}
        self.held_samples = 0
        self._render: float | None = None
        self._render_at = 0.0
        self.snapshots = 0
        self.extrapolated_frames = 0
        self.frozen_frames = 0

    # ------------------------------------------------------------------ input

    def on_snapshot(self, tick: int, table, now: float, held=None) -> None:
        """A snapshot table (EntityTable: ids, values [n, F]) for `tick` arrived at `now`. ``held`` (bool [n]):
        rows the server did not update in it (their values are an earlier snapshot's)."""
        if tick in self._tables or (self._ticks and tick < self._ticks[0]):
            return
        self.n_fields = table.values.shape[1]
        ids, values = np.asarray(table.ids, dtype=np.int64), np.asarray(table.values)
        if self._pending or (held is not None and held.any()):
            values = self._place_held(tick, ids, values, held)
        bisect.insort(self._ticks, tick)
        self._tables[tick] = (ids, values)
        if len(self._ticks) > self.keep:
            for old in self._ticks[: len(self._ticks) - self.keep]:
                del self._tables[old]
            del self._ticks[: len(self._ticks) - self.keep]
        self.snapshots += 1
        sample = tick - now * self.rate
        self._offset.add(now, sample)
        self._jitter += (self._offset.value - sample - self._jitter) / 16.0
        if self._newest >= 0 and tick > self._newest:
            self._stale.add(now, self.server_tick(now) - self._newest)
        self._newest = max(self._newest, tick)
        if self._render is None:
            self._render = self.server_tick(now) - self.target_delay_ticks
            self._render_at = now

    def _place_held(self, tick: int, ids: np.ndarray, values: np.ndarray, held) -> np.ndarray:
        """Budget-deferred entities (Source's and Fusion's budgets defer too): a held row's position is a guess,
        not the entity standing still. It is dead-reckoned from the entity's last fresh sample; when a fresh
        one comes, the held samples not yet drawn are moved onto the line between the two fresh ones, so the
        entity neither pauses nor jumps."""
        values = np.array(values, dtype=values.dtype)  # a snapshot table is read-only
        cols = self.position
        render = self._render if self._render is not None else -np.inf
        held_rows = np.flatnonzero(held) if held is not None else np.empty(0, np.int64)
        held_set = set(ids[held_rows].tolist())
        # fresh samples of pending entities: redraw their held samples on the line, then forget them
        for e in [e for e in self._pending if e not in held_set]:
            t0, p0, _, ticks = self._pending.pop(e)
            r = _row(ids, e)
            if r is None:
                continue  # left our view: nothing to connect to
            p1 = values[r, cols].astype(np.int64)
            span = tick - t0
            for t in ticks:
                tab = self._tables.get(t)
                if tab is None or t <= render:
                    continue  # gone, or already drawn
                rr = _row(tab[0], e)
                if rr is not None:
                    tab[1][rr, cols] = interpolate_positions(p0[None, :], p1[None, :], _frac(t - t0, span))[0]
        for r in held_rows.tolist():
            e = int(ids[r])
            self.held_samples += 1
            pend = self._pending.get(e)
            if pend is None:
                t0, p0, v = self._last_fresh(e, tick, values[r, cols])
                pend = self._pending[e] = (t0, p0, v, [])
            t0, p0, v, ticks = pend
            ahead = min(tick - t0, self.max_extrapolation_ticks)
            values[r, cols] = p0 + np.floor(v * ahead).astype(np.int64)
            ticks.append(tick)
        return values

    def _last_fresh(self, entity: int, tick: int, fallback) -> tuple[int, np.ndarray, np.ndarray]:
        """(tick, position, velocity per tick) of the entity's newest sample before ``tick`` (the values a held
        row repeats are that sample's), velocity from the one before it; no sample: hold ``fallback``."""
        found = []
        for t in reversed(self._ticks):
            if t >= tick:
                continue
            ids, v = self._tables[t]
            r = _row(ids, entity)
            if r is None:
                break
            found.append((t, v[r, self.position].astype(np.int64)))
            if len(found) == 2:
                break
        if not found:
            return tick, np.asarray(fallback, dtype=np.int64), np.zeros(2)
        t0, p0 = found[0]
        if len(found) == 2 and found[1][0] < t0:
            t1, p1 = found[1]
            step = (p0 - p1) / (t0 - t1)
            if self.teleport_per_tick is not None and np.abs(step).max() > self.teleport_per_tick:
                step = np.zeros(2)
            return t0, p0, step
        return t0, p0, np.zeros(2)

    # ------------------------------------------------------------------ clocks

    def server_tick(self, now: float) -> float:
        """Estimated server tick now (fractional), from the least delayed recent snapshot arrival."""
        off = self._offset.value
        return -1.0 if off is None else now * self.rate + off

    @property
    def target_delay_ticks(self) -> float:
        stale = self._stale.value
        want = self.min_delay_ticks if stale is None else max(self.min_delay_ticks, stale + self.margin_ticks)
        return min(want, self.max_delay_ticks)

    @property
    def target_delay(self) -> float:
        """The delay the render clock is steering to, seconds."""
        return self.target_delay_ticks / self.rate

    def delay(self, now: float) -> float:
        """The current interpolation delay, seconds (server time − render time)."""
        if self._render is None:
            return self.target_delay
        return (self.server_tick(now) - self._render) / self.rate

    @property
    def jitter(self) -> float:
        """Mean lateness of snapshot arrivals behind the least delayed one, seconds."""
        return self._jitter / self.rate

    @property
    def newest_tick(self) -> int:
        return self._newest

    def render_tick(self, now: float) -> float:
        """Advance the render clock to `now` and return it (fractional tick)."""
        if self._render is None:
            return -1.0
        self._stale.expire(now)
        dt = now - self._render_at
        if dt > 0:
            target = self.server_tick(now) - self.target_delay_ticks
            err = target - (self._render + dt * self.rate)
            if abs(err) > 0.5 * self.rate:
                self._render = target  # lost track (a long stall or a big latency change): jump
            else:
                # Slew, don't jump: a render clock that jumps moves every entity at once. Slowing
                # down (err < 0) may be brisk — it avoids running out of snapshots; speeding up is
                # gentle, so a falling delay never shows as entities hurrying.
                speed = min(self.max_speedup, max(-self.max_slowdown, 0.1 * err))
                self._render += dt * self.rate * (1.0 + speed)
            self._render_at = now
        return self._render

    # ------------------------------------------------------------------ output

    def sample(self, now: float) -> Frame:
        """The entities to draw at `now`."""
        r = self.render_tick(now)
        ticks = self._ticks
        if not ticks:
            return _empty_frame(r, self.n_fields)
        self._prune(r)
        ticks = self._ticks
        if not self.enabled:
            tn = ticks[-1]
            return self._plain(r, "latest", tn)
        i = bisect.bisect_right(ticks, r) - 1
        if i < 0:
            return self._plain(r, "waiting", ticks[0])
        if i == len(ticks) - 1:
            return self._extrapolate(r, ticks)
        return self._interpolate(r, ticks[i], ticks[i + 1])

    def _prune(self, r: float) -> None:
        # keep the table we interpolate from and the one before it (extrapolation velocity)
        i = bisect.bisect_right(self._ticks, r) - 2
        if i > 0:
            for old in self._ticks[:i]:
                del self._tables[old]
            del self._ticks[:i]

    def _plain(self, r: float, mode: str, tick: int) -> Frame:
        ids, v = self._tables[tick]
        v = v.astype(np.int64)
        return Frame(r, mode, ids, v, v[:, self.position], (tick, 0), tick, tick)

    def _interpolate(self, r: float, ta: int, tb: int) -> Frame:
        ids_a, va = self._tables[ta]
        ids_b, vb = self._tables[tb]
        span = tb - ta
        frac = _frac(r - ta, span)
        cols = self.position
        values = va.astype(np.int64)
        pos = values[:, cols]
        if len(ids_a) and len(ids_b):
            j = np.minimum(np.searchsorted(ids_b, ids_a), len(ids_b) - 1)
            both = ids_b[j] == ids_a
            rows_a = np.flatnonzero(both)
            rows_b = j[both]
            p0 = pos[rows_a]
            p1 = vb[rows_b][:, cols].astype(np.int64)
            moved = interpolate_positions(p0, p1, frac)
            if self.teleport_per_tick is not None:
                # a respawn is a jump across the map, not a move: show it at one end, never in between
                jump = np.abs(p1 - p0).max(axis=1) > self.teleport_per_tick * span
                if jump.any():
                    moved[jump] = p1[jump] if frac >= FRAC_ONE // 2 else p0[jump]
            pos[rows_a] = moved
            if frac >= FRAC_ONE // 2:
                # every other field is the nearer snapshot's (an aim, hp or flag bit has no in-between)
                values[rows_a] = vb[rows_b]
            values[:, cols] = pos
        # The view names the snapshot interval of the server's schedule that holds the render time:
        # the server rewinds between its states at view tick and view tick + snapshot_every.
        k = self.every
        vt = ta + k * int((r - ta) // k)
        view = (vt, _frac(r - vt, k))
        return Frame(r, "interpolate", ids_a, values, pos, view, ta, tb)

    def _extrapolate(self, r: float, ticks: list[int]) -> Frame:
        tn = ticks[-1]
        ahead = r - tn
        frame = self._plain(r, "extrapolate", tn)
        if ahead <= 0:
            frame.mode = "interpolate"
            return frame
        if ahead > self.max_extrapolation_ticks:
            frame.mode = "frozen"
            self.frozen_frames += 1
        else:
            self.extrapolated_frames += 1
        if len(ticks) < 2:
            return frame
        tp = ticks[-2]
        ids_p, vp = self._tables[tp]
        ids_n = frame.ids
        if not len(ids_p) or not len(ids_n):
            return frame
        j = np.minimum(np.searchsorted(ids_p, ids_n), len(ids_p) - 1)
        both = ids_p[j] == ids_n
        rows_n = np.flatnonzero(both)
        p0 = vp[j[both]][:, self.position].astype(np.int64)
        p1 = frame.pos[rows_n]
        step = p1 - p0
        span = tn - tp
        if self.teleport_per_tick is not None:
            step[np.abs(step).max(axis=1) > self.teleport_per_tick * span] = 0
        # Bounded dead reckoning (Source: cl_extrapolate_amount 0.25 s), then the picture stops.
        amount = min(ahead, self.max_extrapolation_ticks)
        frame.pos[rows_n] = p1 + np.floor(step * (amount / span)).astype(np.int64)
        frame.values[:, self.position] = frame.pos
        return frame
