"""Re-simulation of a replay: verify (every checksum and keyframe), Playback/seek (state at a tick,
events per tick), audit (the server's shot audit, re-derived) and info (no simulation).

The replay holds only what the simulation cannot derive: joins, leaves, input changes and the
views of rewound shots. Playing it means loading the game the header names (netcode.game), building
``game.new_world(game.config_from_dict(header["config"]), header["seed"])`` (or restoring the starting
keyframe of a recording attached mid-match) and applying the records in file order.
"""
from __future__ import annotations

import struct
from collections import Counter
from typing import Any, Callable

import attrs
import msgpack
import numpy as np

from ..game import LagCompensated
from . import format as fmt
from .format import ReplayError
from .inputs import InputDecoder
from .reader import ReplayReader

Progress = Callable[[int, int], None]  # (ticks done, ticks in the replay)

# What a game's simulation raises when a (crc-valid but nonsensical) record asks for the impossible; the
# game is any importable code, so anything it plainly signals is a bad replay, not a crash of verify.
_SIM_ERRORS = (ValueError, TypeError, LookupError, ArithmeticError, RuntimeError, struct.error)


@attrs.frozen
class VerifyResult:
    """``ok``: every checksum and keyframe matched the re-simulation (a replay cut off by a crash is
    ok when everything it holds matches). ``first_divergence``: the first tick whose recorded
    checksum differs (``expected`` recorded, ``got`` re-simulated, both masked to the recorded width)."""

    ok: bool
    ticks: int  # ticks re-simulated
    checksums_checked: int
    keyframes_checked: int
    first_divergence: int | None
    expected: int | None
    got: int | None
    first_tick: int
    last_tick: int
    duration_s: float  # wall time of the verification (0 when verify() was given no clock)
    replay_s: float  # match time covered (ticks / tick rate)
    speed: float  # replay_s / duration_s: multiple of real time (0 without a clock)
    clean: bool  # END record present, no damage
    warnings: tuple[str, ...]
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class _Player:
    """Applies records to a world: the one place that knows how records change the game.

    With ``rewind`` it also keeps a LagCompensator (hitbox history) so actions that the server
    resolved against a rewound view (VIEWS records) are resolved the same way; with ``audit``
    every action goes through the game's ``step_rewound``, which regenerates the server's ShotAudit entries.
    """

    def __init__(self, reader: ReplayReader, rewind: bool = False, audit: bool = False):
        self.game = reader.game
        self.cfg = reader.sim
        self.seed = reader.seed
        self.world = None
        self.packed = np.zeros(self.cfg.max_players, dtype=np.uint64)
        self.decoder = InputDecoder(self.game.inputs, self.cfg.max_players)
        self.start_tick = 0
        self._world_limit: int | None = None
        self.audit = audit
        self.views: dict[int, dict] = {}  # tick -> {slot: (AppliedView, recorded hit)}
        self.recorded_outcomes = 0  # rewound shots resolved from their recorded hit (no history for them)
        self.comp = None
        if not isinstance(self.game, LagCompensated):
            if rewind:
                raise ReplayError(f"the replay holds lag-compensation views, but {self.game.name} has no lag "
                                  "compensation")
            audit = self.audit = False  # nothing to audit: the game resolves no actions against a view
        if rewind or audit:
            from ..rewind import LagCompensator, RewindConfig

            lag = reader.header.get("lag_compensation")
            lag = lag if isinstance(lag, dict) else {}
            server = reader.header.get("server") if isinstance(reader.header.get("server"), dict) else {}
            every = lag.get("snapshot_every", server.get("snapshot_every"))
            every = every if type(every) is int and 1 <= every <= 4096 else reader.tick_rate
            window = lag.get("window")
            window = float(window) if isinstance(window, (int, float)) and 0 < window <= 1.0 else 1.0
            # A history at least as long as the server's: only availability depends on its length.
            n = len(self.game.entity_view(self.game.new_world(self.cfg, self.seed)).values)
            sight = lag.get("sight", 0)  # replays before the sight limit: none
            sight = sight if type(sight) is int and sight >= 0 else 0
            # replays before it held only rewound actions to the sight limit
            at_present = lag.get("sight_at_present", False) is True
            self.comp = LagCompensator(RewindConfig(enabled=True, window=window), reader.tick_rate, every, n,
                                       sight=sight, sight_at_present=at_present)
            self.history_ticks = self.comp.history.window_ticks
        else:
            self.history_ticks = 0

    @property
    def world_limit(self) -> int:
        """The most a keyframe may decompress to: 16× a fresh world's bytes and at least 16 MiB (worlds may grow
        as a match goes on; the bound only stops a forged keyframe from claiming gigabytes)."""
        if self._world_limit is None:
            fresh = len(self.game.world_to_bytes(self.game.new_world(self.cfg, self.seed)))
            self._world_limit = max(16 * fresh, 16 << 20)
        return self._world_limit

    def keyframe_bytes(self, kf: fmt.Keyframe) -> bytes:
        try:
            return kf.world_bytes(self.world_limit)
        except fmt.FormatError as e:
            raise ReplayError(f"the keyframe at tick {kf.tick} is unusable ({e})") from None

    def start_new(self) -> None:
        self.world = self.game.new_world(self.cfg, self.seed)
        self.start_tick = 0

    def start_keyframe(self, kf: fmt.Keyframe) -> None:
        data = self.keyframe_bytes(kf)
        try:
            self.world = self.game.world_from_bytes(self.cfg, data)
        except ValueError as e:
            raise ReplayError(f"the keyframe at tick {kf.tick} is unusable ({e})") from None
        if self.world.tick != kf.tick:
            raise ReplayError(f"the keyframe at tick {kf.tick} holds tick {self.world.tick}")
        self.start_tick = kf.tick
        self.decoder.set_slots(np.flatnonzero(self.game.player_slots(self.world)).tolist())
        self.reset_inputs()
        if self.comp is not None:
            self.comp.record(self.world.tick, *self.game.hitboxes(self.world))

    def reset_inputs(self) -> None:
        self.decoder.reset_all()
        self.packed[:] = 0

    def inconsistent(self, what: str) -> ReplayError:
        return ReplayError(f"the replay is inconsistent at tick {self.world.tick}: {what}")

    def join(self, rec: fmt.Join) -> None:
        self._seat(rec, "JOIN", "join", self.game.add_player, self.decoder.join)

    def leave(self, rec: fmt.Leave) -> None:
        self._seat(rec, "LEAVE", "remove", self.game.remove_player, self.decoder.leave)

    def _seat(self, rec, kind: str, verb: str, change, decoder_change) -> None:
        """Apply a JOIN or LEAVE exactly where the server did: at its tick, to its slot."""
        if rec.tick != self.world.tick:
            raise self.inconsistent(f"a {kind} for tick {rec.tick}")
        try:
            change(self.world, rec.slot)
        except _SIM_ERRORS as e:
            raise self.inconsistent(f"cannot {verb} slot {rec.slot} ({e})") from None
        if self.comp is not None:
            self.comp.forget_slot(rec.slot)
        decoder_change(rec.slot)
        self._zero(rec.slot)

    def add_views(self, rec: fmt.Views) -> None:
        if self.comp is None:
            return
        from ..rewind import FRAC_ONE, AppliedView

        for e in rec.entries:
            rewind = (e.tick * FRAC_ONE - (e.view_tick * FRAC_ONE + e.frac * e.span)) / FRAC_ONE
            view = AppliedView(e.view_tick, e.frac, e.span, rewind, e.status, e.tick, e.claimed)
            self.views.setdefault(e.tick, {})[e.slot] = (view, e.hit)

    def _frame(self, tick: int):
        """The tick's RewindFrame: the recorded views, and their recorded outcomes for views older than this
        re-simulation's hitbox history (it started at a keyframe or mid-match)."""
        entries = self.views.pop(tick, None) or {}
        return self.comp.frame({s: v for s, (v, _) in entries.items()},
                               {s: hit for s, (v, hit) in entries.items() if v.rewound and hit is not None})

    def _zero(self, slot: int) -> None:
        self.packed[slot] = 0

    def decode(self, block: fmt.TickBlock) -> list:
        if block.first_tick != self.world.tick + 1:
            raise self.inconsistent(f"inputs for ticks {block.first_tick}..{block.last_tick} "
                                    f"(ticks {self.world.tick + 1}..{block.first_tick - 1} are missing)")
        try:
            return self.decoder.decode(block)
        except fmt.FormatError as e:
            raise self.inconsistent(str(e)) from None

    def step(self, changes) -> list:
        packed = self.packed
        for slot, value in changes:
            packed[slot] = value
        inputs = self.game.inputs.unpack_many(packed)
        comp = self.comp
        if comp is None:
            return self.game.step(self.world, inputs)
        frame = self._frame(self.world.tick + 1)
        events = self.game.step_rewound(self.world, inputs, frame)
        self.recorded_outcomes += frame.used_outcomes
        comp.record(self.world.tick, *self.game.hitboxes(self.world))
        return events


def _present_held(reader: ReplayReader) -> bool:
    """Whether the server held actions resolved at the present to its sight limit (lag_compensation
    ``sight_at_present``): then a re-simulation resolves them through the compensator too, even in a match
    without a rewound action (no VIEWS record), or it would let them hit what the server did not."""
    lag = reader.header.get("lag_compensation")
    return isinstance(reader.game, LagCompensated) and isinstance(lag, dict) \
        and lag.get("sight_at_present", False) is True and type(lag.get("sight")) is int and lag["sight"] > 0


def _prescan(reader: ReplayReader) -> tuple[set[int], int, int, list[tuple[int, int]]]:
    """From record headers only: the kinds present, the (first, last) tick of TICKS records, and
    the keyframes as (tick, offset)."""
    kinds: set[int] = set()
    first = last = None
    keyframes = []
    for raw in reader.raw_records():
        kinds.add(raw.kind)
        if raw.kind == fmt.Kind.TICKS and len(raw.payload) >= fmt.TICKS_HDR.size:
            t0, n = fmt.TICKS_HDR.unpack_from(raw.payload)[:2]
            first = t0 if first is None else first
            last = t0 + n - 1
        elif raw.kind == fmt.Kind.KEYFRAME and len(raw.payload) >= fmt.KEYFRAME_HDR.size:
            keyframes.append((fmt.KEYFRAME_HDR.unpack_from(raw.payload)[0], raw.offset))
    return kinds, first or 0, last or 0, keyframes


def _normalise(value):
    """What a value looks like after a msgpack round trip (tuples become lists)."""
    return msgpack.unpackb(fmt.pack_items(value), raw=False, strict_map_key=False)


def _take_audit(p: _Player) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for a in p.comp.audit:
        out.setdefault(a.tick, []).append(a.as_dict())
    p.comp.audit.clear()
    return out


def _check(path, rewind: bool, has_audit: bool, start_offset: int | None = None, warm_until: int = -1,
           stop_tick: int | None = None, stop_at_first: bool = True, progress: Progress | None = None,
           total: int = 0) -> dict:
    """Re-simulate from ``start_offset`` (None: the beginning), comparing what the recording holds for
    ticks after ``warm_until`` (before that, only the hitbox history is being rebuilt), up to the
    records of ``stop_tick`` (None: the end). Returns counts and the first divergence; raises
    ReplayError for a contradictory replay."""
    with ReplayReader(path) as reader:
        p = _Player(reader, rewind=rewind, audit=has_audit)
        every = reader.checksum_every
        computed: dict[int, int] = {}
        regenerated: dict[int, list[dict]] = {}
        out = {"ticks": 0, "checks": 0, "keyframes": 0, "first_tick": None, "last_tick": None, "divergence": None,
               "expected": None, "got": None, "detail": "", "recorded_outcomes": 0}

        def diverged(tick, expected, got, detail):
            out.update(divergence=tick, expected=expected, got=got, detail=detail)

        for _, rec in reader.records(start_offset):
            if p.world is None:
                if isinstance(rec, fmt.Keyframe):
                    p.start_keyframe(rec)
                    out["first_tick"] = out["last_tick"] = max(rec.tick, warm_until)
                    continue
                if isinstance(rec, (fmt.TickBlock, fmt.Join, fmt.Leave, fmt.Views)):
                    p.start_new()
                    out["first_tick"] = out["last_tick"] = max(0, warm_until)
                else:
                    continue
            t = type(rec)
            if t is fmt.TickBlock:
                if stop_tick is not None and rec.first_tick > stop_tick:
                    break
                changes = p.decode(rec)
                world = p.world
                try:
                    for ch in changes:
                        p.step(ch)
                        if world.tick % every == 0 and world.tick > warm_until:
                            computed[world.tick] = p.game.checksum(world)
                except _SIM_ERRORS as e:
                    raise p.inconsistent(f"the simulation rejected the recorded inputs or views ({e})") from None
                checked = min(rec.count, max(0, world.tick - warm_until))
                out["ticks"] += checked
                if checked:
                    out["last_tick"] = world.tick
                if has_audit:
                    regenerated.update(_take_audit(p))
                if progress is not None:
                    progress(out["ticks"], total)
            elif t is fmt.Checksums:
                for tick, value in zip(rec.ticks(), rec.values):
                    if tick <= warm_until:
                        continue
                    c = computed.get(tick)
                    if c is None:
                        if tick > p.world.tick:
                            raise p.inconsistent(f"a checksum for tick {tick}, which was not played yet")
                        if tick != p.world.tick:
                            continue  # a tick before the replay's start: nothing to compare
                        c = p.game.checksum(p.world)
                    out["checks"] += 1
                    if c & rec.mask != value:
                        diverged(tick, value, c & rec.mask, f"state checksum differs at tick {tick}")
                        break
                computed.clear()
            elif t is fmt.Views:
                p.add_views(rec)
            elif t is fmt.Join:
                p.join(rec)
            elif t is fmt.Leave:
                p.leave(rec)
            elif t is fmt.Keyframe:
                if rec.tick != p.world.tick:
                    raise p.inconsistent(f"a keyframe for tick {rec.tick}")
                if rec.tick > warm_until:
                    mine = p.game.world_to_bytes(p.world)
                    theirs = p.keyframe_bytes(rec)
                    out["keyframes"] += 1
                    if mine != theirs:
                        try:
                            expected = p.game.checksum(p.game.world_from_bytes(p.cfg, theirs))
                        except ValueError:
                            expected = None
                        diverged(rec.tick, expected, p.game.checksum(p.world),
                                 f"the world differs from the keyframe at tick {rec.tick}")
                p.reset_inputs()
            elif t is fmt.Items and rec.kind == fmt.Kind.AUDIT and p.comp is not None:
                for item in rec.items:
                    if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int):
                        continue
                    tick, stored = item
                    mine = _normalise(regenerated.pop(tick, []))
                    if tick <= warm_until or (p.start_tick and tick < p.start_tick + p.history_ticks):
                        continue  # warm-up, or rewinds into the time before a mid-match start
                    if mine != stored:
                        diverged(tick, None, None, f"the rewind audit of the shots at tick {tick} differs "
                                                   "from the recorded one")
                        break
            if out["divergence"] is not None and stop_at_first:
                break
        out["recorded_outcomes"] = p.recorded_outcomes
        return out


def _check_chunk(args: tuple) -> dict:
    """A worker process's share of a parallel verify; a ReplayError comes back as data."""
    try:
        return _check(*args)
    except ReplayError as e:
        return {"error": str(e)}


def _chunks(keyframes: list[tuple[int, int]], first: int, last: int, workers: int,
            history: int) -> list[tuple[int | None, int, int | None]]:
    """(start offset, warm until, stop tick) per chunk: contiguous runs between keyframes; a chunk that
    needs hitbox history starts at a keyframe at least ``history`` ticks before its first checked tick."""
    inner = [(kt, off) for kt, off in keyframes if first < kt < last]
    if workers < 2 or not inner:
        return [(None, -1, None)]
    bounds: list[tuple[int, int]] = []
    for i in range(1, workers):
        goal = first + (last - first) * i // workers
        kt, off = min(inner, key=lambda k: abs(k[0] - goal))
        if not bounds or kt > bounds[-1][0]:
            bounds.append((kt, off))
    chunks = [(None, -1, bounds[0][0])]
    for i, (kt, off) in enumerate(bounds):
        start = off
        if history:
            warm = [o for t, o in keyframes if t <= kt - history]
            start = warm[-1] if warm else None
        chunks.append((start, kt, bounds[i + 1][0] if i + 1 < len(bounds) else None))
    return chunks


def verify(path, progress: Progress | None = None, stop_at_first: bool = True, workers: int = 1,
           clock: Callable[[], float] | None = None) -> VerifyResult:
    """Re-simulate the replay and compare every recorded checksum and keyframe (and the stored
    rewind audit, if the recording kept one).

    ``progress(done, total)`` is called as ticks are done. ``workers`` > 1 verifies runs between
    keyframes in that many processes at once: each keyframe is compared in full by the run that
    ends there, so by induction this proves what a single pass proves. ``ReplayError`` for a file
    that is not a usable replay or whose records contradict each other. ``clock`` (e.g. ``time.perf_counter``)
    times the verification for ``duration_s`` and ``speed``.
    """
    t0 = clock() if clock is not None else 0.0
    with ReplayReader(path) as reader:
        kinds, first, last, keyframes = _prescan(reader)
        warnings = list(reader.warnings)
        clean, tick_rate = reader.clean, reader.tick_rate
        history = 0
        rewind = fmt.Kind.VIEWS in kinds or _present_held(reader)
        has_audit = fmt.Kind.AUDIT in kinds
        if rewind or has_audit:
            history = _Player(reader, rewind=True).history_ticks
    total = max(0, last - first + 1)
    plan = _chunks(keyframes, first, last, workers, history)
    if len(plan) == 1:
        parts = [_check(path, rewind, has_audit, stop_at_first=stop_at_first, progress=progress, total=total)]
    else:
        import concurrent.futures as cf
        import multiprocessing as mp

        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
        args = [(str(path), rewind, has_audit, start, warm, stop, stop_at_first) for start, warm, stop in plan]
        parts = [None] * len(args)
        with cf.ProcessPoolExecutor(max_workers=len(args), mp_context=ctx) as pool:
            futures = {pool.submit(_check_chunk, a): i for i, a in enumerate(args)}
            for fut in cf.as_completed(futures):
                parts[futures[fut]] = fut.result()
                if progress is not None:
                    progress(sum(p.get("ticks", 0) for p in parts if p), total)
    ticks = checks = kfs = outcomes = 0
    divergence = None
    for part in parts:  # in tick order: the first problem wins, as in a single pass
        if "error" in part:
            raise ReplayError(part["error"])
        ticks += part["ticks"]
        checks += part["checks"]
        kfs += part["keyframes"]
        outcomes += part["recorded_outcomes"]
        if part["divergence"] is not None:
            divergence = part
            break
    duration = clock() - t0 if clock is not None else 0.0
    replay_s = ticks / tick_rate
    if outcomes:
        warnings.append(f"{outcomes} rewound shots aimed at a view before the recording started; "
                        "their recorded outcome was used")
    d = divergence or {}
    return VerifyResult(
        ok=divergence is None, ticks=ticks, checksums_checked=checks, keyframes_checked=kfs,
        first_divergence=d.get("divergence"), expected=d.get("expected"), got=d.get("got"),
        first_tick=parts[0]["first_tick"] or 0, last_tick=(divergence or parts[-1])["last_tick"] or 0,
        duration_s=duration, replay_s=replay_s, speed=replay_s / duration if duration > 0 else 0.0,
        clean=clean, warnings=tuple(warnings), detail=d.get("detail", ""))


class Playback:
    """A replay played tick by tick, with seeking: what a viewer needs.

    ``world`` is the current world of the replay's game (None before the first record that starts it),
    ``step()`` advances one tick and returns that step's game events (whatever the game's ``step``
    returns: the arena's ShotFired, Hit, Kill, Respawn; football's Kick, Goal) or None at the end, ``seek(tick)`` jumps (restoring the nearest keyframe at or
    before ``tick`` when that is shorter than stepping). ``players`` lists who joined and left,
    ``warnings`` what the reader found damaged. The file is read once (records stay compressed).
    """

    def __init__(self, path, audit: bool = False):
        with ReplayReader(path) as reader:
            self.records: list = [rec for _, rec in reader.records()]
            self.header = reader.header
            self.tick_rate = reader.tick_rate
            self.game = reader.game
            self.sim = reader.sim
            self.warnings = list(reader.warnings)
            self.clean = reader.clean
            self._reader_state = reader  # _Player reads its header fields; the file itself is closed
        self._audit = audit
        self._rewind = any(isinstance(r, fmt.Views) for r in self.records) or _present_held(reader)
        self._keyframes = [(i, r.tick) for i, r in enumerate(self.records) if isinstance(r, fmt.Keyframe)]
        self.players: list[dict] = []
        current: dict[int, dict] = {}
        for r in self.records:
            if isinstance(r, fmt.Join):
                current[r.slot] = {"slot": r.slot, "name": r.name, "joined_tick": r.tick, "left_tick": None}
                self.players.append(current[r.slot])
            elif isinstance(r, fmt.Leave) and r.slot in current:
                current.pop(r.slot)["left_tick"] = r.tick
        self.last_tick = max((r.last_tick for r in self.records if isinstance(r, fmt.TickBlock)), default=None)
        self.restart()
        self.first_tick = self._p.start_tick  # 0, or the starting keyframe's tick of a mid-match recording

    def restart(self) -> None:
        """Back to the start of the replay."""
        self._start(fmt_index=None)

    def _start(self, fmt_index: int | None) -> None:
        self._p = _Player(self._reader_state, rewind=self._rewind, audit=self._audit)
        self._pending: list = []
        self._next = 0
        self._i = 0
        if fmt_index is not None:
            self._p.start_keyframe(self.records[fmt_index])
            self._i = fmt_index + 1
        else:
            self._begin()

    def _begin(self) -> None:
        """Start the game at the first record that needs a world."""
        while self._p.world is None and self._i < len(self.records):
            rec = self.records[self._i]
            if isinstance(rec, fmt.Keyframe):
                self._p.start_keyframe(rec)
                self._i += 1
            elif isinstance(rec, (fmt.TickBlock, fmt.Join, fmt.Leave, fmt.Views)):
                self._p.start_new()
            else:
                self._i += 1

    @property
    def world(self):
        return self._p.world

    @property
    def tick(self) -> int | None:
        return None if self._p.world is None else self._p.world.tick

    def step(self) -> list | None:
        """One tick forward: that step's events, or None when the replay has no more ticks."""
        p = self._p
        while self._next >= len(self._pending):
            if self._i >= len(self.records) or p.world is None:
                return None
            rec = self.records[self._i]
            self._i += 1
            t = type(rec)
            if t is fmt.TickBlock:
                self._pending, self._next = p.decode(rec), 0
            elif t is fmt.Views:
                p.add_views(rec)
            elif t is fmt.Join:
                p.join(rec)
            elif t is fmt.Leave:
                p.leave(rec)
            elif t is fmt.Keyframe:
                p.reset_inputs()
        changes = self._pending[self._next]
        self._next += 1
        try:
            return p.step(changes)
        except _SIM_ERRORS as e:
            raise p.inconsistent(f"the simulation rejected the recorded inputs or views ({e})") from None

    def seek(self, tick: int):
        """Go to the state right after the step that produced ``tick`` (before that tick's joins/leaves)."""
        tick = int(tick)
        if self._p.world is None:
            raise ReplayError("the replay holds no game")
        if tick < self.first_tick and not (self._keyframes and self._keyframes[0][1] <= tick):
            raise ReplayError(f"tick {tick} is before the start of the replay (tick {self.first_tick})")
        best = None
        for i, kt in self._keyframes:
            if kt <= tick:
                best = (i, kt)
        here = self._p.world.tick
        if tick < here or (best is not None and best[1] > here):
            if best is not None:
                self._start(best[0])
            else:
                self.restart()
        while self._p.world.tick < tick:
            if self.step() is None:
                raise ReplayError(f"tick {tick} is past the end of the replay (last tick {self._p.world.tick})")
        return self._p.world


def seek(path, tick: int):
    """The world right after the step that produced ``tick`` (before that tick's joins and leaves):
    restored from the nearest keyframe at or before ``tick`` and simulated forward.

    A rewound shot whose view lies before the keyframe (no hitbox history for it) takes the
    outcome the recording stored with its view, so the result is still exact.
    """
    return Playback(path).seek(tick)


def audit(path) -> list[dict]:
    """Every shot's rewind audit (``netcode.rewind.ShotAudit.as_dict()``), re-derived by re-simulating
    the replay with the recorded lag-compensation views: what the server's ``on_audit`` was given."""
    pb = Playback(path, audit=True)
    out: list[dict] = []
    while pb.step() is not None:
        if len(pb._p.comp.audit) > 512:
            out.extend(a.as_dict() for a in pb._p.comp.audit)
            pb._p.comp.audit.clear()
    out.extend(a.as_dict() for a in pb._p.comp.audit)
    return out


def info(path) -> dict[str, Any]:
    """What a replay holds, without simulating: mode, duration, players, sizes, record counts, damage."""
    with ReplayReader(path) as reader:
        counts: Counter[str] = Counter()
        sizes: Counter[str] = Counter()
        events: Counter[str] = Counter()
        players: list[dict] = []
        current: dict[int, dict] = {}
        first = last = None
        start = None
        end = None
        for raw, rec in reader.decoded():
            name = fmt.kind_name(raw.kind)
            counts[name] += 1
            sizes[name] += raw.size
            t = type(rec)
            if t is fmt.TickBlock:
                first = rec.first_tick if first is None else first
                last = rec.last_tick
            elif t is fmt.Keyframe and start is None and first is None and not players:
                start = rec.tick
            elif t is fmt.Join:
                entry = {"slot": rec.slot, "name": rec.name, "joined_tick": rec.tick, "left_tick": None}
                players.append(entry)
                current[rec.slot] = entry
            elif t is fmt.Leave:
                entry = current.pop(rec.slot, None)
                if entry is not None:
                    entry["left_tick"] = rec.tick
            elif t is fmt.Items and rec.kind == fmt.Kind.EVENT:
                for item in rec.items:
                    if isinstance(item, list) and len(item) >= 2 and isinstance(item[1], str):
                        events[item[1]] += 1
            elif t is fmt.End:
                end = rec
        h = reader.header
        begin = start if start is not None else 0
        last_tick = last if last is not None else begin
        ticks = last_tick - begin
        cfg = reader.sim
        return {
            "file": str(reader.path), "size_bytes": reader.size, "format_version": reader.version,
            "netcode": h.get("netcode"), "game": h.get("game"), "game_version": h.get("game_version"),
            "mode": reader.mode, "tick_rate": reader.tick_rate, "created": h.get("created"), "seed": reader.seed,
            "server": h.get("server"), "max_players": cfg.max_players, "config": cfg.to_dict(),
            "start_tick": begin, "first_tick": first, "last_tick": last_tick, "ticks": ticks,
            "duration_s": ticks / reader.tick_rate,
            "players": players, "player_count": len(players),
            "records": dict(counts), "bytes_by_kind": dict(sizes),
            "unknown_records": sum(reader.unknown_kinds.values()),
            "keyframes": counts.get("KEYFRAME", 0), "events": dict(events),
            "ended": reader.ended, "clean": reader.clean,
            "end_tick": end.final_tick if end is not None else None,
            "warnings": list(reader.warnings),
        }
