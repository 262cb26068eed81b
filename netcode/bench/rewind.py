"""`netcode bench rewind`: hit agreement between what shooters see and what the server rules.

Bots move and shoot at each other through the seeded network simulator, in virtual time. Each bot
draws the others exactly as the pygame client does (netcode.interpolation), decides with the game's
bot brain from what it draws (its own entity where its prediction has it, netcode.prediction) and
sends the view it drew with each action. Its own verdict is the game's ``local_action`` against the
entities it drew; the server's verdict comes back in SHOT_RESULT. Runs at RTTs of 0, 50, 150 and 300 ms
(±20 ms jitter), with and without 2 % loss, with lag compensation on and off.

- agreement: of the actions the shooter's view says hit, the fraction the server confirms (same target);
- false hits: server hits on actions whose shooter's view missed, as a fraction of all judged ones.

The game is the arena with weapon damage 0, so nobody dies: a target that died between the view and
the shot is a legitimate disagreement, but it measures the game, not the rewind. Any game that is
``LagCompensated``, ``Predicted`` and ``HasBots`` can be measured the same way (``game=``, ``options=``).
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from ..bots import make_brain
from ..game import load_game
from ..interpolation import Interpolator
from ..netsim.link import LinkConfig
from ..prediction import Predictor
from ..rewind import FRAC_ONE, FRAC_SHIFT, LagCompensator, RewindConfig
from ..statesync.client import StateSyncClient
from ..statesync.events import ShotResult, SnapshotReceived, Welcome
from ..statesync.server import ServerConfig, StateSyncServer
from ..netsim.virtual import VirtualNetwork

RTTS_MS = (0, 50, 150, 300)
ARENA_OPTIONS = {"npcs": 0, "width": 1600, "height": 1600, "weapon_damage": 0}


class _Shooter:
    """One bot: client, interpolator, predictor, brain, and its record of verdicts."""

    def __init__(self, index: int, seed: int):
        self.client = StateSyncClient(("server", 0), name=f"s{index}", nonce=index + 1)
        self.index = index
        self.seed = seed * 100 + index
        self.interp: Interpolator | None = None
        self.pred: Predictor | None = None
        self.brain = None
        self.client_verdict: dict[int, int] = {}  # tick -> target id or -1
        self.server_verdict: dict[int, int] = {}

    def attach(self, net: VirtualNetwork) -> None:
        self.client.connect(net.now)
        net.add(("bot", self.index), self)

    # a sans-IO endpoint wrapping the client
    def receive_datagram(self, data, addr, now):
        self.client.receive_datagram(data, addr, now)

    def datagrams_to_send(self, now):
        return self.client.datagrams_to_send(now)

    def update(self, now: float) -> None:
        c = self.client
        c.transport.update(now)
        c.on_events(c.transport.events(), now)
        for e in c.events():
            if isinstance(e, Welcome):
                self.game, self.config, self.slot = e.game, e.config, e.slot
                self.interp = Interpolator(e.tick_rate, e.snapshot_every, position=e.game.entities.position_columns)
                self.pred = Predictor(e.game, e.config, e.slot)
                self.brain = make_brain(e.game, self.seed)
                self.action = e.game.inputs.index(e.game.action_field)
            elif isinstance(e, SnapshotReceived) and self.interp is not None:
                self.interp.on_snapshot(e.tick, e.table, now, e.held)
                self.pred.on_snapshot(e.tick, e.table, now, e.input_tick)
            elif isinstance(e, ShotResult):
                self.server_verdict[e.tick] = e.target
        if self.pred is None or not self.pred.ready:
            return
        frame = self.interp.sample(now)
        mine = self.pred.predicted_rows()
        if frame.mode != "interpolate" or mine is None:
            c.next_input = 0
            return
        # decide from the picture: the others as drawn, ourselves where the prediction has us
        ids, values = frame.ids, frame.values.copy()
        row = frame.row(self.slot)
        if row is None:
            ids = np.append(ids, self.slot)
            values = np.vstack([values, mine[:1]])
            order = np.argsort(ids)
            ids, values = ids[order], values[order]
        else:
            values[row] = mine[0]
        c.next_input = self.brain.from_snapshot(self.config, ids, values, self.slot)
        c.view = frame.view
        others = frame.without(self.slot)
        for t in c.send_inputs(now):
            packed = c.next_input
            self.pred.on_input(t, packed)
            if self.game.inputs.unpack(packed)[self.action]:
                origin = self.pred.history.get(t)
                if origin is not None:
                    x, y = (int(origin[0, k]) for k in self.pred.cols)
                    hit, _ = self.game.local_action(self.config, others.ids, others.values, self.slot, packed,
                                                    origin=(x, y))
                    self.client_verdict[t] = hit
        self.pred.take_events()


def run_agreement(rtt_ms: float, rewind: bool, loss: float, seconds: float = 20.0, bots: int = 8,
                  seed: int = 1, game: str = "arena", options: dict | None = None) -> dict:
    """One scenario; returns agreement, false-hit rate and counts."""
    link = LinkConfig(latency=rtt_ms / 2000, jitter=0.010, loss=loss)
    net = VirtualNetwork(link, seed=seed, step=1 / 240)
    g = load_game(game)
    server = StateSyncServer.for_game(g, ServerConfig(rewind=RewindConfig(enabled=rewind)), seed=seed,
                                      options=ARENA_OPTIONS if options is None else options,
                                      secret=b"rewind-bench-secret!")
    net.add(("server", 0), server)
    shooters = [_Shooter(i, seed) for i in range(bots)]
    for s in shooters:
        s.attach(net)
    net.advance(seconds)
    claimed = confirmed = judged = false_hits = 0
    for s in shooters:
        warm = 3.0 * server.config.tick_rate  # the first seconds: joining, clock sync, interpolation warm-up
        for t, mine in s.client_verdict.items():
            theirs = s.server_verdict.get(t)
            if theirs is None or t < warm:
                continue  # the server fired no such shot (a cooldown or a lost input), or still warming up
            judged += 1
            if mine >= 0:
                claimed += 1
                confirmed += theirs == mine
            elif theirs >= 0:
                false_hits += 1
    totals = server.lagcomp.totals()
    return {"rtt_ms": rtt_ms, "rewind": rewind, "loss": loss, "shots_judged": judged, "view_hits": claimed,
            "confirmed": confirmed, "agreement": confirmed / claimed if claimed else float("nan"),
            "false_hits": false_hits, "false_hit_rate": false_hits / judged if judged else float("nan"),
            "clamped": totals.get("clamped", 0), "rejected_future": totals.get("rejected_future", 0)}


def rewind_cost(n_players: int = 128, shots: int = 16, runs: int = 15, seed: int = 0, tick_rate: int = 60,
                snapshot_every: int = 3, game: str = "arena", options: dict | None = None) -> dict:
    """What a rewound action costs the server's tick, through the Game interface only.

    A match of ``n_players`` walking players fills a full 1 s hitbox history; then ``shots`` of them act
    at once, each with its own claimed view (RTT 20-200 ms plus 100 ms of interpolation, so fractions
    differ). Each run steps a copy of the same world three ways: no action, the same actions resolved at
    the present, and rewound. Returns the medians of (rewound - no action) / shots and of (present - no
    action) / shots: the extra tick time per action, rewind and audit included.
    """
    g = load_game(game)
    schema = g.inputs
    config = g.make_config(mode="state", max_players=n_players, tick_rate=tick_rate,
                           **({"npcs": 0} if options is None else options))
    world = g.new_world(config, seed)
    for _ in range(n_players):
        g.add_player(world)
    p = config.max_players
    comp = LagCompensator(RewindConfig(), tick_rate, snapshot_every, len(g.entity_view(world).values))
    rng = np.random.default_rng(seed)
    action = schema.index(g.action_field)
    walking = schema.zeros(p)
    for _ in range(tick_rate + 2 * snapshot_every):
        walking[:n_players] = rng.integers(-1, 2, (n_players, schema.n_fields))
        walking[:, action] = 0
        g.step(world, schema.unpack_many(schema.pack_many(walking)))
        comp.record(world.tick, *g.hitboxes(world))
    cur = world.tick + 1
    actors = np.sort(rng.choice(n_players, size=min(shots, n_players), replace=False))
    applied = {}
    for s in actors.tolist():
        rtt = float(rng.uniform(0.02, 0.2))
        v_q = cur * FRAC_ONE - round((rtt + 0.1) * tick_rate * FRAC_ONE)
        vt = (v_q >> FRAC_SHIFT) // snapshot_every * snapshot_every
        vf = (v_q - vt * FRAC_ONE) // snapshot_every
        applied[s] = comp.apply_limits(s, vt, vf, rtt, cur)
    acting = walking.copy()
    acting[actors, action] = 1
    if schema.smooth is not None:  # aim every way (the arena's aim)
        acting[actors, schema.smooth] = rng.integers(0, 1 << schema.fields[schema.smooth].bits, len(actors))
    idle_inputs = schema.unpack_many(schema.pack_many(walking))
    act_inputs = schema.unpack_many(schema.pack_many(acting))
    blob = g.world_to_bytes(world)

    def timed(inputs, views) -> float:
        w = g.world_from_bytes(config, blob)
        frame = comp.frame(views)
        t0 = time.perf_counter()
        g.step_rewound(w, inputs, frame)
        return time.perf_counter() - t0

    base, present, rewound = [], [], []
    for _ in range(runs):
        base.append(timed(idle_inputs, {}))
        present.append(timed(act_inputs, {}))
        rewound.append(timed(act_inputs, applied))
        comp.audit.clear()
    b = statistics.median(base)
    n = len(actors)
    return {"rewind_us_per_shot_128p": (statistics.median(rewound) - b) / n * 1e6,
            "present_us_per_shot": (statistics.median(present) - b) / n * 1e6,
            "step_without_shots_us": b * 1e6, "n_players": n_players, "shots": n,
            "history_ticks": len(comp.history)}


def bench(quick: bool = False, progress=None) -> dict:
    seconds = 5.0 if quick else 20.0
    runs = []
    for loss in (0.0, 0.02):
        for rtt in ((150,) if quick else RTTS_MS):
            for rewind in (True, False):
                runs.append(run_agreement(rtt, rewind, loss, seconds))
                if progress:
                    progress()
    metrics = {}
    for r in runs:
        tag = f"{'on' if r['rewind'] else 'off'}_{r['rtt_ms']}ms" + ("_loss2" if r["loss"] else "")
        metrics[f"agreement_{tag}"] = r["agreement"]
    on = [r for r in runs if r["rewind"]]
    metrics["false_hit_rate_on"] = sum(r["false_hits"] for r in on) / max(1, sum(r["shots_judged"] for r in on))
    off = [r for r in runs if not r["rewind"]]
    metrics["false_hit_rate_off"] = sum(r["false_hits"] for r in off) / max(1, sum(r["shots_judged"] for r in off))
    metrics["shots_judged"] = sum(r["shots_judged"] for r in runs)
    cost = rewind_cost(n_players=128, runs=7 if quick else 25)
    metrics["rewind_us_per_shot_128p"] = cost["rewind_us_per_shot_128p"]
    metrics["present_us_per_shot_128p"] = cost["present_us_per_shot"]
    return {"suite": "rewind", "metrics": metrics, "runs": runs, "cost": cost,
            "scenario": {"game": "arena", "bots": 8, "seconds": seconds, "jitter_ms": "±20 (RTT)",
                         "loss": [0.0, 0.02], "weapon_damage": 0}}
