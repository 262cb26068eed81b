"""Server-side lag compensation (sans-IO): rewind every hitbox to exactly what the shooter saw.

A client renders the world ``interp`` behind its newest snapshot, interpolating every entity
between two snapshots with :func:`interpolate_positions`.  When it acts (fires) it tells the server
which snapshot it was interpolating FROM (``view_tick``) and how far it was towards the next one
(``view_frac``, a u16 fraction of ``FRAC_ONE``; the next snapshot is ``snapshot_every`` ticks
later).  The server keeps a ring of every tick's hitboxes (:class:`HitboxHistory`, filled from the
game's ``LagCompensated.hitboxes``), checks the claim (:meth:`LagCompensator.apply_limits`) and hands
the game's ``step_rewound`` a :class:`RewindFrame`: the hitboxes near each action rebuilt with the
very same integer interpolation, so "I hit him on my screen" is decided bit-for-bit as the client drew
it.  The game resolves the action against them (the arena: its ray narrow phase) and reports back
(:meth:`RewindFrame.finish`); every resolved action leaves a :class:`ShotAudit` behind.

Time convention.  ``current_tick`` is the tick being simulated: ``world.tick + 1`` before
``step()``, equal to ``world.tick`` while the resolver runs inside ``step()``.  The snapshot sent
at tick ``t`` shows the world after step ``t``; ``record(world)`` after every step stores exactly
that.  Claimed and applied times are exact rationals held as Q16 ticks:
``time_q = tick * 65536 + frac * span``.

Integration (the server's ``tick()``)::

    t = world.tick + 1
    applied = {slot: comp.apply_limits(slot, ti.view_tick, ti.view_frac, rtt, t)
               for each client whose input for t is an action}
    events = game.step_rewound(world, inputs, comp.frame(applied))
    comp.record(world.tick, *game.hitboxes(world))
    # and comp.forget_slot(slot) whenever a player slot changes hands (remove_player/add_player)

Documented choices
------------------
* Interpolation floors (``>> 16`` on int64): both client and server use
  :func:`interpolate_positions`, so the rounding direction is irrelevant as long as it is shared.
* Alive-ness of a rewound hitbox is its alive flag at the "from" snapshot (``view_tick``): that
  is what the client drew (an entity that appears in the next snapshot is not drawn yet; one
  that disappears is still drawn until the client passes the next snapshot).
* A rewound hitbox is hittable only if the entity was alive at the view, is still alive and
  active now, and has not died (or changed hands) in between (its current life started at or
  before the view tick).  So a target that died since can't be hit again at its old position,
  and a respawned one can't be hit at the place its previous life stood.
* The shooter is excluded; the action starts at the shooter's CURRENT authoritative position (the
  game's business: the arena's ray starts there, and walls occlude as in its ``cast_rays``).
* Future claims (``v > current_tick``, or the "next" snapshot of the claim doesn't exist yet)
  are rejected and resolved at the present.  Claims older than
  ``min(window, min(rtt, max_rtt) + max_interp + tolerance)`` (``rtt``: the server's own estimate) or than the
  history are clamped to the oldest
  allowed time, expressed with ``span=1`` (interpolating between consecutive recorded ticks,
  which is the server's own exact motion).  Limits are rounded to the nearest 1/65536 tick.
* Shooters without a claim (no view / rewind disabled / stale history) are resolved at the
  present, exactly as the game's own step would.
* A re-simulation (replay verify) that lacks the history of a view uses the outcome the recording
  stored with it (``RewindFrame(outcomes=...)``); without one, the action is resolved at the present.
* Counters count actions actually taken (reported through ``finish``), not fire-button presses
  during a cooldown; ``apply_limits`` is side-effect free (``client_slot`` is for the call site's logs).

Limits of the wire format (for the integrator): the claim carries no span, so a client that
interpolates across a lost snapshot is rewound between ``view_tick`` and ``view_tick +
snapshot_every`` (the same time, slightly different positions); ``view_tick`` is a u32, so
ticks past 2**32 (2.3 years at 60 Hz) would need unwrapping first.
"""

from __future__ import annotations

import math
from collections import deque

import attrs
import numpy as np


# Same values as netcode.statesync.messages (kept local: no import cycle with the server).
FRAC_SHIFT = 16
FRAC_ONE = 1 << FRAC_SHIFT
NO_TICK = 0xFFFFFFFF

MAX_REWIND_SECONDS = 1.0  # Source's sv_maxunlag; never more
NEAR_RADII = 3  # audit: hitboxes whose centre is within this many radii of the action (the ray)
NEAR_CAP = 16  # audit: at most this many (nearest first; the hit target always kept)

OK, CLAMPED, FUTURE, OFF = "ok", "clamped", "future", "off"


def interpolate_positions(p0, p1, frac) -> np.ndarray:
    """THE integer interpolation shared by the client renderer and the server: int64 ``[N, 2]``.

    ``p0 + (((p1 - p0) * frac) >> 16)`` computed in int64, ``frac`` in ``[0, FRAC_ONE]`` (a scalar,
    or one per row).  The shift floors towards -infinity, so a coordinate moving in the negative
    direction rounds "ahead" and one moving positive rounds "behind" by under one sub-px; that is
    deterministic on every machine, and both sides use this function, so they agree exactly.
    ``frac == 0`` gives ``p0`` and ``frac == FRAC_ONE`` gives ``p1``.
    """
    a = np.asarray(p0, dtype=np.int64)
    b = np.asarray(p1, dtype=np.int64)
    f = np.asarray(frac, dtype=np.int64)
    if f.size and (int(f.min()) < 0 or int(f.max()) > FRAC_ONE):
        raise ValueError(f"frac must be in [0, {FRAC_ONE}]")
    if f.ndim == 1 and a.ndim == 2:
        f = f[:, None]
    return a + (((b - a) * f) >> FRAC_SHIFT)


class HitboxHistory:
    """Ring buffer of every recorded tick's hitbox centres and alive flags.

    ``pos`` int32 ``[W, N, 2]``, ``alive`` bool ``[W, N]``, ``ticks`` int64 ``[W]`` (the tick in
    each slot, -1 if none).  Tick ``t`` lives in slot ``t % W``.  Ticks are recorded in order;
    the held ticks are always one contiguous run ``oldest_tick..newest_tick`` (a gap in recording
    restarts the history: older ticks can't be trusted to be complete).
    """

    def __init__(self, window_ticks: int, n_entities: int):
        window_ticks = int(window_ticks)
        if window_ticks < 2:
            raise ValueError("window_ticks must be >= 2")
        if n_entities < 0:
            raise ValueError("n_entities must be >= 0")
        self.window_ticks = window_ticks
        self.pos = np.zeros((window_ticks, int(n_entities), 2), dtype=np.int32)
        self.alive = np.zeros((window_ticks, int(n_entities)), dtype=bool)
        self.ticks = np.full(window_ticks, -1, dtype=np.int64)
        self._newest: int | None = None
        self._count = 0

    @property
    def n_entities(self) -> int:
        return self.pos.shape[1]

    @property
    def newest_tick(self) -> int | None:
        return self._newest

    @property
    def oldest_tick(self) -> int | None:
        return None if self._newest is None else self._newest - self._count + 1

    def __len__(self) -> int:
        return self._count

    def has(self, tick: int) -> bool:
        return self._newest is not None and self._newest - self._count < tick <= self._newest

    def resize(self, n_entities: int) -> None:
        """Grow to ``n_entities`` (new entities: never alive in the recorded past)."""
        n = int(n_entities)
        if n < self.n_entities:
            raise ValueError("HitboxHistory can only grow")
        if n == self.n_entities:
            return
        pos = np.zeros((self.window_ticks, n, 2), dtype=np.int32)
        alive = np.zeros((self.window_ticks, n), dtype=bool)
        pos[:, : self.n_entities] = self.pos
        alive[:, : self.n_entities] = self.alive
        self.pos, self.alive = pos, alive

    def record(self, tick: int, pos, alive) -> None:
        """Store the hitboxes of ``tick`` (one array copy into its slot; grows if N grew)."""
        tick = int(tick)
        pos = np.asarray(pos)
        alive = np.asarray(alive, dtype=bool)
        n = len(pos)
        if pos.shape != (n, 2) or alive.shape != (n,):
            raise ValueError(f"expected pos [N, 2] and alive [N], got {pos.shape} and {alive.shape}")
        if n < self.n_entities:
            raise ValueError(f"{n} entities recorded, history already holds {self.n_entities}")
        if n > self.n_entities:
            self.resize(n)
        if tick < 0:
            raise ValueError("tick must be >= 0")
        newest = self._newest
        if newest is None or tick > newest + 1:
            self._count = 1  # first record, or a gap: restart
        elif tick == newest + 1:
            self._count = min(self._count + 1, self.window_ticks)
        elif tick != newest:
            raise ValueError(f"tick {tick} is older than the newest recorded tick {newest}")
        i = tick % self.window_ticks
        self.pos[i] = pos
        self.alive[i] = alive
        self.ticks[i] = tick
        self._newest = tick

    def frame(self, tick: int) -> tuple[np.ndarray, np.ndarray]:
        """Views (no copy) of ``tick``'s int32 ``[N, 2]`` centres and ``[N]`` alive flags; KeyError if not held."""
        if not self.has(tick):
            raise KeyError(f"tick {tick} not in history [{self.oldest_tick}, {self.newest_tick}]")
        i = tick % self.window_ticks
        assert self.ticks[i] == tick
        return self.pos[i], self.alive[i]

    def positions_at(self, tick: int, frac: int = 0, span: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The world as a client rendered it at ``tick + frac / 65536 * span`` ticks.

        Interpolates history[tick] -> history[tick + span] with :func:`interpolate_positions`
        (``frac == 0`` needs only ``tick``).  Returns (pos int64 ``[N, 2]``, alive bool ``[N]``)
        where alive is the flag at ``tick``, the "from" snapshot the client was drawing.
        """
        frac, span = int(frac), int(span)
        if span < 1:
            raise ValueError("span must be >= 1")
        if not 0 <= frac <= FRAC_ONE:
            raise ValueError(f"frac must be in [0, {FRAC_ONE}]")
        p0, a0 = self.frame(tick)
        if frac == 0:
            return p0.astype(np.int64), a0.copy()
        p1, _ = self.frame(tick + span)
        return interpolate_positions(p0, p1, frac), a0.copy()


def _check_window(inst, attr, value):
    if not 0.0 < value <= MAX_REWIND_SECONDS:
        raise ValueError(f"window must be in (0, {MAX_REWIND_SECONDS}] s, got {value}")


def _check_nonneg(inst, attr, value):
    if not value >= 0.0 or math.isinf(value):
        raise ValueError(f"{attr.name} must be a finite number >= 0, got {value}")


@attrs.frozen(kw_only=True)
class RewindConfig:
    """Lag compensation limits, in seconds. ``window`` is the hard cap (never above 1 s)."""

    enabled: bool = attrs.field(default=True, converter=bool)
    window: float = attrs.field(default=1.0, converter=float, validator=_check_window)
    max_interp: float = attrs.field(default=0.25, converter=float, validator=_check_nonneg)
    tolerance: float = attrs.field(default=0.05, converter=float, validator=_check_nonneg)
    # The round trip a shot is compensated for is the server's own estimate (the transport's smoothed RTT:
    # each packet timed from its send to the first packet that acks it), and at most this much. A client
    # that holds its acks back raises that estimate, so without a cap it could buy the whole window; with it,
    # the most any claim gets is max_rtt + max_interp + tolerance (0.7 s), and a clamped claim is counted.
    max_rtt: float = attrs.field(default=0.4, converter=float, validator=_check_nonneg)


@attrs.frozen
class AppliedView:
    """The view a shot is resolved against: ``tick + frac / 65536 * span`` ticks.

    ``status``: "ok" (as claimed), "clamped" (too old: moved to the oldest allowed time),
    "future" (rejected: resolved at the present), "off" (no rewind: disabled, no claim or stale
    history).  ``current_tick`` is the tick it was applied for; ``claimed`` the raw
    (view_tick, view_frac) or None.
    """

    tick: int
    frac: int
    span: int
    rewind_ticks: float
    status: str
    current_tick: int = -1
    claimed: tuple[int, int] | None = None

    @property
    def rewound(self) -> bool:
        return self.status == OK or self.status == CLAMPED

    @property
    def time_q(self) -> int:
        """The view time in Q16 ticks."""
        return self.tick * FRAC_ONE + self.frac * self.span

    def as_dict(self) -> dict:
        return {"tick": self.tick, "frac": self.frac, "span": self.span, "rewind_ticks": self.rewind_ticks,
                "status": self.status}


@attrs.define
class RewindCounters:
    """Per client slot: shots fired, how many were rewound, clamped, or rejected as future claims."""

    shots: int = 0
    rewound: int = 0
    clamped: int = 0
    rejected_future: int = 0

    def as_dict(self) -> dict:
        return attrs.asdict(self)


@attrs.frozen
class ShotAudit:
    """Everything needed to re-judge one shot.

    ``origin``, ``aim`` and ``range`` describe the action (the arena: a ray); ``near``: the rewound
    hitboxes whose centre is within ``NEAR_RADII`` radii of it (the ray segment from origin to
    range/arena edge, walls ignored), nearest first, at most ``NEAR_CAP`` (the hit target always
    kept): tuples (id, x, y, radius, hittable) in world units.
    """

    tick: int
    shooter: int
    claimed: tuple[int, int] | None
    applied: AppliedView
    rewind_ms: float
    origin: tuple[int, int]
    aim: int
    range: int
    near: tuple[tuple[int, int, int, int, bool], ...]
    hit: int
    dist: int

    def as_dict(self) -> dict:
        return {
            "tick": self.tick, "shooter": self.shooter,
            "claimed": None if self.claimed is None else list(self.claimed),
            "applied": self.applied.as_dict(), "status": self.applied.status, "rewind_ms": self.rewind_ms,
            "origin": list(self.origin), "aim": self.aim, "range": self.range,
            "near": [{"id": i, "x": x, "y": y, "r": r, "hittable": h} for i, x, y, r, h in self.near],
            "hit": self.hit, "dist": self.dist,
        }


def _ticks_of(seconds: float, tick_rate: int) -> int:
    """Whole ticks covering ``seconds`` (ceil, forgiving float noise)."""
    return max(1, math.ceil(seconds * tick_rate - 1e-9))


class LagCompensator:
    """Hitbox history + claim limits + per-tick RewindFrames + counters + audit trail."""

    def __init__(self, config: RewindConfig | None, tick_rate: int, snapshot_every: int, n_entities: int,
                 *, audit_len: int = 1024, sight: int = 0, sight_at_present: bool = True):
        self.config = config or RewindConfig()
        # An action only touches hitboxes within ``sight`` (world units; 0: no limit) of its actor as the actor
        # drew itself: what a state-sync client was sent is its area of interest, so a shot can't hit an entity the
        # shooter never received (the arena's weapon outranges its view). ``sight_at_present``: also an action
        # resolved at the present (no claim, or rewind off); replays recorded before that held rewound ones only.
        self.sight = int(sight)
        self.sight_at_present = bool(sight_at_present)
        self.out_of_sight = 0  # hitboxes an action's box held that lay beyond the actor's sight
        self.tick_rate = int(tick_rate)
        self.snapshot_every = int(snapshot_every)
        if self.tick_rate < 1 or self.snapshot_every < 1:
            raise ValueError("tick_rate and snapshot_every must be >= 1")
        self.window_ticks = _ticks_of(self.config.window, self.tick_rate)
        # Holds every tick an accepted claim can need: its "from" snapshot may lie up to a span
        # before the window's oldest time.
        self.history = HitboxHistory(self.window_ticks + self.snapshot_every + 1, n_entities)
        self._born = np.zeros(int(n_entities), dtype=np.int64)  # first tick of each entity's current life
        self.counters: dict[int, RewindCounters] = {}
        self.audit: deque[ShotAudit] = deque(maxlen=audit_len)

    # ------------------------------------------------------------------ history

    def _grow(self, n: int) -> None:
        if n > len(self._born):
            born = np.zeros(n, dtype=np.int64)
            born[: len(self._born)] = self._born
            self._born = born
        self.history.resize(max(n, self.history.n_entities))

    def record(self, tick: int, pos, alive) -> None:
        """Call after every step with the game's hitboxes: centres int ``[N, 2]`` and hittable ``[N]`` at ``tick``."""
        tick = int(tick)
        alive = np.asarray(alive, dtype=bool)
        self._grow(len(alive))
        h = self.history
        prev = h.frame(tick - 1)[1] if h.has(tick - 1) else np.zeros(len(alive), dtype=bool)
        h.record(tick, pos, alive)
        self._born[alive & ~prev] = tick

    def forget_slot(self, slot: int) -> None:
        """A slot changed hands (remove_player + add_player): its recorded past is not the new
        occupant's, so it can't be hit there; its counters restart."""
        newest = self.history.newest_tick
        if slot < len(self._born):
            self._born[slot] = (newest + 1) if newest is not None else 0
        self.counters.pop(slot, None)

    # ------------------------------------------------------------------ claims

    def _view(self, tick: int, frac: int, span: int, status: str, current: int, claimed) -> AppliedView:
        rewind = (current * FRAC_ONE - (tick * FRAC_ONE + frac * span)) / FRAC_ONE
        return AppliedView(tick, frac, span, rewind, status, current, claimed)

    def apply_limits(self, client_slot: int, view_tick: int | None, view_frac: int, rtt: float | None,
                     current_tick: int) -> AppliedView:
        """Check a claimed view against the limits; return the view to resolve the action against.

        ``current_tick`` is the tick about to be simulated (``world.tick + 1`` before ``step``).
        ``rtt`` in seconds (None/NaN/negative count as 0).  Counting happens when the action is
        actually resolved (see :meth:`RewindFrame.finish`), so this is side-effect free.
        """
        cur = int(current_tick)
        span = self.snapshot_every
        claimed = None if view_tick is None or view_tick == NO_TICK else (int(view_tick), int(view_frac))
        if not self.config.enabled or claimed is None:
            return self._view(cur, 0, 1, OFF, cur, claimed)
        vt, vf = claimed
        if not 0 <= vf < FRAC_ONE:
            raise ValueError(f"view_frac must be in [0, {FRAC_ONE})")
        h = self.history
        newest = h.newest_tick
        if newest is not None and newest >= cur:
            raise ValueError(f"current_tick {cur} must be the tick about to be simulated (history has {newest})")
        if newest is None or newest < cur - 1:
            # record() was not called after the last step: rewinding would be guesswork
            return self._view(cur, 0, 1, OFF, cur, claimed)
        cur_q = cur * FRAC_ONE
        v_q = vt * FRAC_ONE + vf * span
        if v_q > cur_q or vt + (span if vf else 0) > cur:
            return self._view(cur, 0, 1, FUTURE, cur, claimed)
        if rtt is None or not rtt >= 0.0 or math.isinf(rtt):
            rtt = 0.0
        c = self.config
        allowed = min(c.window, min(rtt, c.max_rtt) + c.max_interp + c.tolerance)
        lo_q = max(cur_q - round(allowed * self.tick_rate * FRAC_ONE), h.oldest_tick * FRAC_ONE)
        if v_q < lo_q:
            return self._view(lo_q >> FRAC_SHIFT, lo_q & (FRAC_ONE - 1), 1, CLAMPED, cur, claimed)
        if vt < h.oldest_tick:
            # within the limits, but its "from" snapshot is older than the history (match start):
            # the same time, between recorded ticks
            return self._view(v_q >> FRAC_SHIFT, v_q & (FRAC_ONE - 1), 1, CLAMPED, cur, claimed)
        return self._view(vt, vf, span, OK, cur, claimed)

    def frame(self, applied: dict[int, AppliedView], outcomes: dict[int, int] | None = None) -> RewindFrame:
        """The RewindFrame for this tick's step: actors in ``applied`` are rewound to their view.
        ``outcomes`` (a re-simulation): actor -> recorded result, for views older than the history."""
        return RewindFrame(self, applied, outcomes)

    # ------------------------------------------------------------------ reporting

    def audit_dicts(self, n: int | None = None) -> list[dict]:
        """The newest ``n`` (all if None) shot audits, oldest first, as plain JSON/msgpack-safe dicts."""
        items = list(self.audit)
        if n is not None:
            items = items[-n:] if n > 0 else []
        return [a.as_dict() for a in items]

    def totals(self) -> dict:
        """Counters summed over every client slot."""
        out = RewindCounters()
        for cnt in self.counters.values():
            out.shots += cnt.shots
            out.rewound += cnt.rewound
            out.clamped += cnt.clamped
            out.rejected_future += cnt.rejected_future
        d = out.as_dict()
        d["out_of_sight"] = self.out_of_sight
        return d


class RewindFrame:
    """One tick's lag compensation, handed to the game's ``step_rewound``.

    The game's action resolver calls, in order: ``views(actors, tick)`` (the view each actor's action is
    resolved against; ``rewound`` ones need the past), ``candidates(...)`` (the hitboxes each action may
    touch, as the actor saw them), then resolves the actions itself and reports with ``finish(...)``
    (outcomes stored by a re-simulation applied, counters, audit).
    """

    def __init__(self, comp: LagCompensator, applied: dict[int, AppliedView], outcomes: dict[int, int] | None = None):
        self.comp = comp
        self.applied = dict(applied)
        self.outcomes = dict(outcomes or {})
        self.forced: dict[int, int] = {}  # ray index -> recorded outcome (its view predates the history)
        self.used_outcomes = 0

    def _held(self, v: AppliedView, now_tick: int) -> bool:
        h = self.comp.history
        for t in (v.tick, v.tick + (v.span if v.frac else 0)):
            if t != now_tick and not h.has(t):
                return False
        return True

    @property
    def sight_at_present(self) -> bool:
        """Whether ``candidates`` holds actions resolved at the present to the sight limit too (then a resolver
        that casts those itself must take them from the candidates instead)."""
        return self.comp.sight > 0 and self.comp.sight_at_present

    def views(self, actors, current_tick: int) -> list[AppliedView]:
        """The view for each actor (ascending entity ids) acting at ``current_tick`` (== world.tick inside the step)."""
        comp = self.comp
        cur = int(current_tick)
        out = []
        self.forced.clear()
        for i, s in enumerate(np.asarray(actors).tolist()):
            v = self.applied.get(s) if comp.config.enabled else None
            if v is None:
                v = comp._view(cur, 0, 1, OFF, cur, None)
            elif v.current_tick != cur:
                raise ValueError(f"view for slot {s} was applied for tick {v.current_tick}, resolving tick {cur}")
            elif v.rewound and not self._held(v, cur):
                if s in self.outcomes:
                    self.forced[i] = int(self.outcomes[s])  # no history for it: the recorded result stands
                else:
                    v = comp._view(cur, 0, 1, OFF, cur, v.claimed)
            out.append(v)
        return out

    def _frame(self, tick: int, now_tick: int, now_pos, now_alive):
        h = self.comp.history
        if h.has(tick):
            return h.frame(tick)
        if tick == now_tick:
            return now_pos, now_alive
        raise KeyError(f"tick {tick} is neither recorded nor the present")

    def candidates(self, views: list[AppliedView], actors, box_lo, box_hi, now_pos, now_alive, now_tick: int,
                   origins=None):
        """Hitboxes inside each action's box ``[box_lo, box_hi]`` (int32 ``[S, 2]`` each) as its actor drew them.

        Returns ``(ray, entity, centre, hittable)``: int64 ``[K]``, int64 ``[K]``, int64 ``[K, 2]`` and
        bool ``[K]`` for every (action, hitbox) pair whose drawn centre may lie in the box (the actor
        itself excluded; only hitboxes alive at the view; ``hittable``: alive now too, and in the same
        life as at the view). Present views pair with ``now_pos``/``now_alive`` as they are; a rewound
        view interpolates its two recorded ticks with :func:`interpolate_positions`. With the compensator's
        ``sight`` and the actions' ``origins`` (int ``[S, 2]``: where each action starts, the actor now), an action's
        hitboxes farther than ``sight`` from its origin are not hittable (counted ``out_of_sight``): a rewound
        action's, and with ``sight_at_present`` one resolved at the present too.
        """
        comp = self.comp
        cur = int(now_tick)
        actors = np.asarray(actors, dtype=np.int64).reshape(-1)
        n = len(now_alive)
        comp._grow(n)
        # Entities alive now whose life started after the last record began this very tick.
        h = comp.history
        born = comp._born
        if h.newest_tick is not None and h.newest_tick < cur:
            born = np.where(now_alive & ~h.frame(h.newest_tick)[1], cur, born)
        groups: dict[tuple[int, int] | None, list[int]] = {}
        for i, v in enumerate(views):
            key = (v.tick, v.tick + (v.span if v.frac else 0)) if v.rewound and i not in self.forced else None
            if v.rewound and i in self.forced:
                continue  # its outcome is the recorded one: nothing to resolve
            groups.setdefault(key, []).append(i)
        fracs = np.fromiter((v.frac for v in views), dtype=np.int64, count=len(views))
        parts = []
        for key, idx in groups.items():
            gi = np.asarray(idx, dtype=np.int64)
            if key is None:
                p0 = p1 = now_pos
                drawn = hittable = now_alive
            else:
                p0, drawn = self._frame(key[0], cur, now_pos, now_alive)
                p1 = self._frame(key[1], cur, now_pos, now_alive)[0] if key[1] != key[0] else p0
                hittable = drawn & now_alive & (born <= key[0])
            if p1 is p0:
                lo_x = hi_x = np.ascontiguousarray(p0[:, 0], dtype=np.int32)
                lo_y = hi_y = np.ascontiguousarray(p0[:, 1], dtype=np.int32)
            else:
                lo = np.minimum(p0, p1)
                hi = np.maximum(p0, p1)
                lo_x, lo_y = np.ascontiguousarray(lo[:, 0]), np.ascontiguousarray(lo[:, 1])
                hi_x, hi_y = np.ascontiguousarray(hi[:, 0]), np.ascontiguousarray(hi[:, 1])
            # Broad phase: an interpolated centre lies inside the box of its two frame centres.
            blo, bhi = box_lo[gi], box_hi[gi]
            near = (hi_x >= blo[:, 0:1]) & (lo_x <= bhi[:, 0:1])
            near &= hi_y >= blo[:, 1:2]
            near &= lo_y <= bhi[:, 1:2]
            near &= drawn
            flat = np.flatnonzero(near)
            if not len(flat):
                continue
            g, ni = flat // n, flat % n
            si = gi[g]
            keep = ni != actors[si]
            si, ni = si[keep], ni[keep]
            c0 = p0[ni].astype(np.int64)
            if p1 is p0:
                c = c0
            else:
                c = c0 + (((p1[ni].astype(np.int64) - c0) * fracs[si][:, None]) >> FRAC_SHIFT)
            ok = hittable[ni]
            if comp.sight > 0 and origins is not None and (key is not None or comp.sight_at_present):
                # beyond the actor's sight nothing was sent to it, so nothing there can be hit: rewound or resolved
                # at the present (no claim, or rewind off), the client never drew what lay there
                rel = c - np.asarray(origins, dtype=np.int64).reshape(-1, 2)[si]
                seen = rel[:, 0] * rel[:, 0] + rel[:, 1] * rel[:, 1] <= comp.sight * comp.sight
                comp.out_of_sight += int(np.count_nonzero(ok & ~seen))
                ok = ok & seen
            parts.append((si, ni, c, ok))
        if not parts:
            return (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty((0, 2), dtype=np.int64),
                    np.empty(0, dtype=bool))
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))

    def finish(self, current_tick: int, actors, views: list[AppliedView], origins, aims, action_range: int,
               hit: np.ndarray, dist: np.ndarray, near=None) -> None:
        """The game resolved the actions (``hit`` entity or -1, ``dist`` along the action, edited in place for
        recorded outcomes): count them and audit each. ``near``: (ray, entity, centre, radius, hittable) arrays
        of the hitboxes near each action, sorted by ray then nearest first (kept in the audit, at most NEAR_CAP)."""
        comp = self.comp
        for i, outcome in self.forced.items():
            hit[i] = outcome
            self.used_outcomes += 1
        actor_list = np.asarray(actors).tolist()
        if near is not None and len(near[0]):
            si, ni, c, r, ok = near
            bounds = np.searchsorted(si, np.arange(len(actor_list) + 1)).tolist()
            rows = list(zip(ni.tolist(), c[:, 0].tolist(), c[:, 1].tolist(), r.tolist(), ok.tolist()))
        else:
            bounds = [0] * (len(actor_list) + 1)
            rows = []
        ms_per_tick = 1000.0 / comp.tick_rate
        origin_list = np.asarray(origins).tolist()
        aim_list = np.asarray(aims).tolist()
        hits, dists = hit.tolist(), dist.tolist()
        counters = comp.counters
        cur = int(current_tick)
        for i, s in enumerate(actor_list):
            v = views[i]
            cnt = counters.get(s)
            if cnt is None:
                cnt = counters[s] = RewindCounters()
            cnt.shots += 1
            st = v.status
            if st == OK:
                cnt.rewound += 1
            elif st == CLAMPED:
                cnt.rewound += 1
                cnt.clamped += 1
            elif st == FUTURE:
                cnt.rejected_future += 1
            rows_i = rows[bounds[i]:bounds[i + 1]]
            target = hits[i]
            if len(rows_i) > NEAR_CAP:
                head = rows_i[:NEAR_CAP]
                if target >= 0 and all(e[0] != target for e in head):
                    kept = next((e for e in rows_i if e[0] == target), None)
                    if kept is not None:
                        head[-1] = kept
                rows_i = head
            comp.audit.append(ShotAudit(cur, s, v.claimed, v, v.rewind_ticks * ms_per_tick, tuple(origin_list[i]),
                                        aim_list[i], int(action_range), tuple(rows_i), target, dists[i]))



