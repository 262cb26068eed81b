"""Entity interpolation: smooth under loss, bounded extrapolation, adaptive delay, and views the server can replay."""
import numpy as np

from netcode.interpolation import Interpolator
from netcode.netsim.link import LinkConfig
from netcode.rewind import LagCompensator, RewindConfig, interpolate_positions
from netcode.games.arena import FLAG_ALIVE, GAME, SUBPX, PlayerInput, SimConfig, hitboxes
from netcode.games.arena.step import step_lengths
from netcode.statesync.client import StateSyncClient
from netcode.statesync.events import SnapshotReceived, Welcome
from netcode.statesync.server import ServerConfig, StateSyncServer
from netcode.netsim.virtual import VirtualNetwork
from netcode.wire.snapshot import EntityTable

SERVER = ("server", 1)
RATE = 60


def table(rows: dict) -> EntityTable:
    """{id: (x, y)} -> an EntityTable of alive players."""
    ids = sorted(rows)
    vals = [[rows[i][0], rows[i][1], 0, 100, FLAG_ALIVE] for i in ids]
    return EntityTable(np.array(ids, np.uint32), np.array(vals, np.int32).reshape(-1, 5))


def feed_steady(ip: Interpolator, ticks, arrival, speed=64):
    """Entity 1 moving +speed sub-px per tick in x; snapshot t arrives at arrival(t)."""
    newest = -1
    for t, at in sorted(((t, arrival(t)) for t in ticks), key=lambda p: p[1]):
        if t > newest:  # the sequenced channel drops anything older than what it delivered
            newest = t
            ip.on_snapshot(t, table({1: (t * speed, 1000)}), at)


# ---------------------------------------------------------------------- in a real match


class Observed:
    """A server, a steadily moving player and an observer over a lossy link, all in virtual time."""

    def __init__(self, loss: float, seed: int = 2, npcs: int = 0):
        link = LinkConfig(latency=0.04, loss=loss)
        self.net = VirtualNetwork(link, seed=seed, step=1 / 480)
        sim = SimConfig.arena(npc_count=npcs, width=640, height=640, walls=())
        self.sim = sim
        self.server = StateSyncServer(GAME, sim, ServerConfig(), seed=seed, secret=b"i" * 32)
        self.net.add(SERVER, self.server)
        # the server's own lag compensation history, to check views against
        self.comp = LagCompensator(RewindConfig(), 60, 1, sim.num_entities)
        orig_tick = self.server.tick

        def tick(now):
            events = orig_tick(now)
            self.comp.record(self.server.world.tick, *hitboxes(self.server.world))
            return events

        self.server.tick = tick
        self.mover = StateSyncClient(SERVER, name="mover", nonce=1)
        self.watcher = StateSyncClient(SERVER, name="watcher", nonce=2)
        for i, c in enumerate((self.mover, self.watcher)):
            c.connect(0.0)
            self.net.add(("client", i), c)
        self.ip: Interpolator | None = None
        self.tables = {}
        self.frames = []  # (now, frame, server positions as the rewind would rebuild them or None)
        self.net.on_step.append(self._step)
        self._n = 0

    def _step(self, now):
        for e in self.watcher.events():
            if isinstance(e, Welcome):
                self.ip = Interpolator(e.tick_rate, e.snapshot_every)
            elif isinstance(e, SnapshotReceived) and self.ip is not None:
                self.ip.on_snapshot(e.tick, e.table, now)
                self.tables[e.tick] = e.table
        self.mover.events()
        w = self.mover.welcome
        if w is not None:
            # right for a second, left for a second: steady motion, the arena has no walls
            self.mover.next_input = PlayerInput(1 if int(now) % 2 == 0 else -1, 0, 0, 0).pack()
        self._n += 1
        if self.ip is not None and self._n % 4 == 0 and now > 1.5:  # render at 120 fps
            f = self.ip.sample(now)
            rebuilt = None
            vt, vf = f.view
            if f.mode == "interpolate" and self.comp.history.has(vt) and self.comp.history.has(vt + 1):
                rebuilt = self.comp.history.positions_at(vt, vf, 1)[0]
            self.frames.append((now, f, rebuilt))


def test_interpolation_is_smooth_across_10_percent_loss():
    m = Observed(loss=0.10)
    m.net.advance(7.0)
    mover = m.mover.welcome.slot
    xs = []
    for now, f, _ in m.frames:
        r = f.row(mover)
        assert r is not None
        xs.append((now, f.pos[r, 0], f.pos[r, 1], f.mode))
    x = np.array([p[1] for p in xs])
    y = np.array([p[2] for p in xs])
    one_tick = max(step_lengths(m.sim, t)[0] for t in range(1, 61))
    jumps = np.maximum(np.abs(np.diff(x)), np.abs(np.diff(y)))
    assert jumps.max() <= one_tick, jumps.max()
    assert np.abs(x[-1] - x[0]) + np.abs(np.diff(x)).sum() > 400 * SUBPX  # it really moved
    assert len(set(np.diff(x).tolist())) > 3  # and between ticks, not in tick-sized steps
    # losses really happened while we watched, and no frame froze
    ticks = sorted(m.tables)
    gaps = np.diff(ticks)
    assert (gaps > 1).sum() >= 20
    assert not any(p[3] == "frozen" for p in xs)


def test_view_reproduces_the_drawn_positions_exactly():
    m = Observed(loss=0.05, seed=4, npcs=30)  # wandering drones are rewound too
    m.net.advance(5.0)
    checked_client = checked_server = 0
    for now, f, rebuilt in m.frames:
        if f.mode != "interpolate":
            continue
        vt, vf = f.view
        a, b = m.tables.get(vt), m.tables.get(vt + 1)
        alive = (f.values[:, 4] & FLAG_ALIVE) != 0
        if a is not None and b is not None:
            # what the client drew is interpolate_positions of the two snapshots the view names
            common = np.intersect1d(a.ids, b.ids)
            pa = a.values[np.searchsorted(a.ids, common), 0:2]
            pb = b.values[np.searchsorted(b.ids, common), 0:2]
            rows = np.searchsorted(f.ids, common)
            assert np.array_equal(f.pos[rows], interpolate_positions(pa, pb, vf))
            checked_client += 1
        if rebuilt is not None and f.to_tick == f.from_tick + 1 and a is not None and b is not None:
            # and the server's rewind rebuilds the same hitboxes from its own history, for every
            # entity the client interpolated (one leaving its view is drawn where the last snapshot
            # had it, which the server's history does not know)
            both = np.isin(f.ids, np.intersect1d(a.ids, b.ids)) & alive
            ids = f.ids[both]
            assert np.array_equal(rebuilt[ids], f.pos[both])
            checked_server += 1
    assert checked_client > 300 and checked_server > 300
    assert min(len(f) for _, f, _ in m.frames[-100:]) >= 20


def test_entities_entering_and_leaving_are_drawn_from_the_from_snapshot():
    ip = Interpolator(RATE)
    ip.on_snapshot(10, table({1: (0, 0), 2: (1000, 0)}), 10 / RATE)
    ip.on_snapshot(11, table({2: (1064, 0), 3: (5000, 0)}), 11 / RATE)
    ip._render = 10.5  # halfway between them
    ip._render_at = 11 / RATE
    f = ip.sample(11 / RATE)
    assert f.mode == "interpolate" and f.ids.tolist() == [1, 2]  # 3 is not drawn yet, 1 still is
    assert f.pos[0].tolist() == [0, 0] and f.pos[1].tolist() == [1032, 0]
    assert f.view == (10, 32768)
    ip._render = 11.0
    f = ip.sample(11 / RATE)
    assert f.ids.tolist() == [2, 3]


def test_extrapolation_is_bounded_then_freezes():
    ip = Interpolator(RATE, max_extrapolation=0.25)
    feed_steady(ip, range(1, 101), lambda t: t / RATE + 0.05)
    samples = []
    for k in range(200):
        now = 90 / RATE + 0.05 + k * 0.005
        f = ip.sample(now)
        samples.append((now, ip.render_tick(now), int(f.pos[0, 0]), f.mode))
    modes = [s[3] for s in samples]
    assert modes[0] == "interpolate" and "extrapolate" in modes and modes[-1] == "frozen"
    first_extra = modes.index("extrapolate")
    assert set(modes[:first_extra]) == {"interpolate"}
    xs = np.array([s[2] for s in samples])
    assert (np.diff(xs) >= 0).all()  # keeps going the same way, never snaps back
    limit = 100 * 64 + 0.25 * RATE * 64
    assert xs.max() <= limit and xs.max() >= limit - 64
    frozen = [s for s in samples if s[3] == "frozen"]
    assert len(frozen) > 20 and len({s[2] for s in frozen}) == 1  # stopped at the bound
    # extrapolation ran for the bounded time only
    ext = [s[1] for s in samples if s[3] == "extrapolate"]
    assert max(ext) - 100 <= 0.25 * RATE + 1e-6


def test_delay_adapts_up_to_jitter_and_back_down_slowly():
    rng = np.random.default_rng(1)
    # snapshots of ticks 240..479 (seconds 4 to 8) arrive up to 45 ms late
    jitter = {t: float(rng.uniform(0, 0.045)) if 240 <= t < 480 else 0.0 for t in range(1, 1200)}
    ip = Interpolator(RATE)
    arrivals = sorted(((t / RATE + 0.03 + jitter[t], t) for t in range(1, 1200)))
    delays, newest, i = [], -1, 0
    frozen = 0
    for k in range(int(1199 / RATE * 240)):
        now = k / 240
        while i < len(arrivals) and arrivals[i][0] <= now:
            at, t = arrivals[i]
            if t > newest:
                newest = t
                ip.on_snapshot(t, table({1: (t * 64, 0)}), at)
            i += 1
        if ip.newest_tick >= 0:
            f = ip.sample(now)
            frozen += f.mode == "frozen"
            delays.append((now, ip.delay(now) * RATE, ip.target_delay_ticks))
    d = np.array(delays)

    def at(sec):
        return d[np.searchsorted(d[:, 0], sec)]

    calm = at(3.5)
    assert abs(calm[2] - 2.0) < 0.01 and abs(calm[1] - 2.0) < 0.2  # two snapshot intervals
    jittery = at(7.8)
    assert jittery[2] > calm[2] + 1.5  # ~45 ms of arrival jitter: about 2.7 ticks more
    assert jittery[1] > calm[1] + 1.5  # and the render clock followed
    rise = d[(d[:, 0] > 4.0) & (d[:, 1] > 0.9 * jittery[1])][0, 0] - 4.0
    after = d[d[:, 0] > 8.0]
    assert after[-1][1] < 2.3 and after[-1][2] < 2.1  # back to normal at the end
    fall = after[after[:, 1] < calm[1] + 0.1 * (jittery[1] - calm[1])][0, 0] - 8.0
    assert fall > 2 * rise  # down more slowly than up
    assert frozen == 0


def test_interpolation_off_draws_the_newest_snapshot():
    ip = Interpolator(RATE, enabled=False)
    feed_steady(ip, range(1, 30), lambda t: t / RATE + 0.05)
    f = ip.sample(29 / RATE + 0.05)
    assert f.mode == "latest" and f.pos[0, 0] == 29 * 64 and f.view == (29, 0)
