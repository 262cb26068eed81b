"""The state-sync match, sans-IO: inputs in, one simulation tick, AOI-filtered delta snapshots out.

It serves any game of the Game interface (netcode.game): the game steps the world and gives a whole-array
entity view once per tick; AOI, budgeted delta snapshots, clock sync and (for ``LagCompensated`` games)
server-side rewind are the netcode's. The asyncio front (netcode/aio/serve.py) calls `update(now)` when
a tick is due and pumps `transport` (a ServerProtocol) over a socket; tests call both in virtual time.
"""
from __future__ import annotations

import os
from collections import Counter

import attrs
import msgpack
import numpy as np

from ..aoi import GridAOI
from ..game import EventFeed, LagCompensated, Scored, announce, spec_of
from ..protocol import Channel, Connected, Disconnected, MessageReceived, TransportConfig
from ..protocol.secure_server import ServerSecurity
from ..protocol.transports import server_transport
from ..protocol.endpoint import TransportEndpoint
from ..protocol.ratelimit import Bucket, RateLimit
from ..protocol.events import LocalProtocolError
from ..tick import FixedTicker
from ..wire import packet as wp
from ..wire.errors import WireError
from ..wire.snapshot import EntityTable, encode_snapshot, select_update
from ..wire.snapshot_batch import SnapshotBatch
from . import messages as msg
from .inputs import InputBuffer
from ..rewind import LagCompensator, RewindConfig
from .congestion import SnapshotRate
from .priority import PriorityTable, pair_costs

# Largest snapshot message that still fits one datagram on the unreliable channel. Snapshots travel unreliable, not
# sequenced: a snapshot overtaken by a newer one is still worth having while it is ahead of the client's render
# time (it fills the interpolation buffer), and the client drops the ones behind it.
MAX_SNAPSHOT_MESSAGE = wp.MAX_MESSAGES_BYTES - wp.MSG_UNRELIABLE_HDR.size


def _check_rate(inst, attr, value):
    if not 10 <= value <= 128:
        raise ValueError(f"{attr.name} must be in 10..128 Hz, got {value}")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """How the state-sync server runs the match (the game's rules are the game's config)."""

    tick_rate: int = attrs.field(default=60, validator=_check_rate)
    snapshot_rate: int = 0  # 0 = every tick
    max_clients: int = 64
    view_radius: int | None = None  # pixels: an entity enters a client's view inside this (None: the game's default)
    leave_margin: int = 60  # pixels more before it leaves (hysteresis, no border flicker)
    budget_bps: int = 256_000  # per client, snapshot payload bits per second (Fiedler's target)
    # each client's budget and snapshot rate follow what its link delivers (netcode.statesync.congestion): below
    # budget_bps behind a slower bottleneck, fewer snapshots when even that is too little
    adaptive_rate: bool = True
    # Snapshots kept per client as delta baselines: the acknowledged one and those sent after it (1.07 s at 60 Hz).
    # With 32 at 60 Hz a round trip plus queue above 533 ms (a 3g link and a little queue) found every ack
    # evicted, so every snapshot went without a baseline, larger, and the queue grew. Ones older than the ack are
    # dropped at once, so a client on a good link holds a few. A client must keep at least this many decoded
    # tables (netcode.statesync.client keeps 64): the baseline is always among the last snapshot_ring sent.
    snapshot_ring: int = 64
    max_input_ahead: int = 32  # ticks
    rejoin_grace: float = 5.0  # seconds a disconnected player's entity waits for a reconnect
    scoreboard_interval: float = 1.0
    max_catchup: int = 5
    rewind: RewindConfig = attrs.field(factory=RewindConfig)  # lag compensation (enabled=False: --no-rewind)
    # what one client may ask of everyone: chat lines relayed to all (a burst of 5, then 1 a second); a client
    # that keeps pushing past it (50 refused within 10 s) is disconnected rather than let it cost the others
    chat_limit: RateLimit = attrs.field(factory=lambda: RateLimit(rate=1.0, burst=5.0, abuse=50, window=10.0))
    events_chunk: int = 16 * 1024  # bytes: a tick's EVENTS go out in messages of at most this much
    # a connection that sends no INPUT this long after its WELCOME holds a seat without playing: it is cut
    # (keep-alives alone must not let one machine sit in every slot)
    join_timeout: float = 10.0

    @property
    def snapshot_every(self) -> int:
        rate = self.snapshot_rate or self.tick_rate
        return max(1, round(self.tick_rate / rate))


@attrs.define
class ClientCounters:
    """Per-client drops and traffic the server saw."""

    bad_messages: int = 0
    unknown_messages: int = 0
    snapshots: int = 0
    full_snapshots: int = 0
    held_entities: int = 0  # entity rows sent with the values of an earlier snapshot (deferred by the budget)
    snapshot_bytes: int = 0
    oversize_retries: int = 0
    chat_dropped: int = 0  # chat lines past the client's rate limit


@attrs.define(eq=False)
class ClientState:
    """One connected (or recently disconnected) player."""

    client_id: int
    name: str
    slot: int
    token: int
    inputs: InputBuffer
    counters: ClientCounters = attrs.Factory(ClientCounters)
    sent: dict = attrs.Factory(dict)  # snapshot tick -> EntityTable the client will hold
    acked: int = -1  # newest snapshot tick the client says it decoded
    connected: bool = True
    left_at: float = 0.0
    addr: object = None
    # secure transport: the connect token's client id. Only a connection with the same one may take this
    # player back (a rejoin token alone is not enough: it binds to who the token issuer says you are)
    owner: int | None = None
    chat: Bucket | None = None  # the client's chat rate limit (made on its first line)
    joined_at: float = 0.0  # when this session was welcomed
    playing: bool = False  # sent an INPUT in this session
    cut: bool = False  # disconnected for abuse: what it still sent is ignored
    rate: SnapshotRate | None = None  # its adaptive snapshot budget and rate (ServerConfig.adaptive_rate)


class StateSyncServer(TransportEndpoint):
    """Hosts one state-sync match of ``game``: ServerProtocol + the game's world + AOI + per-client snapshots."""

    def __init__(self, game, game_config, config: ServerConfig | None = None, *, seed: int = 0, now: float = 0.0,
                 transport_config: TransportConfig | None = None, secret: bytes | None = None,
                 spec: str | None = None, security: ServerSecurity | None = None, transport=None):
        self.config = c = config or ServerConfig()
        if "state" not in game.modes:
            raise ValueError(f"{game.name} does not support state sync (modes: {', '.join(game.modes)})")
        if game_config.tick_rate != c.tick_rate:
            raise ValueError(f"the game runs at {game_config.tick_rate} Hz, the server at {c.tick_rate} Hz")
        if c.max_clients > game_config.max_players:
            raise ValueError(f"max_clients {c.max_clients} > the game's {game_config.max_players} player slots")
        self.game = game
        self.game_config = game_config
        self.spec = spec or spec_of(game)
        self.seed = seed
        self.world = game.new_world(game_config, seed)
        self.schema = game.inputs
        self.units = game.entities.units_per_px
        self.view_radius = c.view_radius if c.view_radius is not None else game.entities.view_radius
        # capabilities the game has, checked once
        # with rewind disabled actions still go through the compensator: resolved at the present, audited
        # and reported to the shooter (SHOT_RESULT "off"), so the two can be compared
        self.lag = isinstance(game, LagCompensated)
        self.feed = isinstance(game, EventFeed)
        self.scored = isinstance(game, Scored)
        self.codec = msg.InputCodec(self.schema, game.action_field if isinstance(game, LagCompensated) else None)
        self.accept_payload = msgpack.packb({"mode": "state", "tick_rate": c.tick_rate, "game": self.spec,
                                             "game_version": int(game.version)})
        # ``transport``: a room's share of a host's transport (netcode.hosting), else one of our own
        self.transport = transport if transport is not None else server_transport(
            c.max_clients, transport_config, secret, self.accept_payload, security)
        self.ticker = FixedTicker(rate=c.tick_rate, start=now, max_catchup=c.max_catchup)
        self.clients: dict[int, ClientState] = {}  # by client_id, connected only
        self.away: dict[int, ClientState] = {}  # by token, waiting for a reconnect
        self.counters: Counter[str] = Counter()
        self.recent_events: list = []  # game events of the last tick (for recorders and tests)
        self._events: list = []  # for the application (the Endpoint interface); the server keeps none today
        self.ticks_ran = 0  # by the last update(), so a driver can attribute its time to ticks
        # called as observer(client_state, full_view_table, message) per snapshot, for measurements
        self.snapshot_observer = None
        # A MatchRecorder (netcode/replay) or None: told every change to the world, in order.
        self.recorder = None
        p = game_config.max_players
        view = game.entity_view(self.world)
        n = len(view.values)
        size = self._world_size(view)
        self._aoi = GridAOI(cell_size=max(64, (self.view_radius + c.leave_margin) // 4) * self.units, world_size=size)
        self._packed = np.zeros(p, dtype=np.uint64)  # each slot's input of the tick being built
        self.priority = PriorityTable(p, n)  # rows are player slots
        # a shot (rewound or not) hits only what the shooter could have been sent: its area of interest (with the
        # leave margin, the farthest an entity it holds can be)
        self.lagcomp = LagCompensator(c.rewind, c.tick_rate, c.snapshot_every, n,
                                      sight=(self.view_radius + c.leave_margin) * self.units)
        self._pending_events: list = []
        self._next_scoreboard = now + c.scoreboard_interval
        self._snapshot_budget = min(c.budget_bps / (c.tick_rate / c.snapshot_every) / 8, MAX_SNAPSHOT_MESSAGE - 8)
        self._tokens = np.random.default_rng(int.from_bytes(secret or os.urandom(16), "little"))
        self._welcome_info = {"tick_rate": c.tick_rate, "snapshot_every": c.snapshot_every,
                              "view_radius": self.view_radius,
                              "score_columns": list(game.score_columns) if self.scored else [],
                              **announce(game, game_config, self.spec)}

    @classmethod
    def for_game(cls, game, config: ServerConfig | None = None, *, seed: int = 0, options: dict | None = None,
                 **kwargs) -> StateSyncServer:
        """A server whose game config is ``game.make_config`` for this server: a player slot for every seat and
        one parked player per seat (``2 * max_clients``), the server's tick rate, ``options`` for the game."""
        config = config or ServerConfig()
        game_config = game.make_config(mode="state", max_players=2 * config.max_clients, tick_rate=config.tick_rate,
                                       **(options or {}))
        return cls(game, game_config, config, seed=seed, **kwargs)

    def start_clock(self, now: float) -> None:
        """Anchor the tick schedule at ``now`` (a server built before its socket was bound); only before the
        first tick."""
        if self.ticker.tick == 0:
            self.ticker.start = now
            self._next_scoreboard = now + self.config.scoreboard_interval

    @staticmethod
    def _world_size(view) -> tuple[int, int]:
        """The extent AOI cells cover (entities beyond it are still handled, in the edge cells)."""
        if view.extent is not None:
            return (max(1, int(view.extent[0])), max(1, int(view.extent[1])))
        hi = int(np.asarray(view.pos).max()) + 1 if len(view.pos) else 1
        return (max(hi, 1 << 14), max(hi, 1 << 14))

    # ------------------------------------------------------------------ network input

    def on_events(self, events: list, now: float) -> None:
        """Handle the transport's events (the driver's handler)."""
        for e in events:
            if type(e) is MessageReceived:
                cs = self.clients.get(e.client_id)
                if cs is not None:
                    self._on_message(cs, e.channel, e.data, now)
            elif isinstance(e, Connected):
                self._on_join(e, now)
            elif isinstance(e, Disconnected):
                self._on_leave(e.client_id, str(e.reason), now)

    def _on_message(self, cs: ClientState, channel: int, data: bytes, now: float) -> None:
        try:
            kind = msg.message_type(data)
            if kind == msg.INPUT:
                ack, inputs = self.codec.decode(data)
                self._on_inputs(cs, ack, inputs, now)
            elif kind == msg.CHAT and channel == Channel.RELIABLE:
                if cs.cut:
                    return
                text = msg.decode_chat(data)
                if cs.chat is None:
                    cs.chat = Bucket(self.config.chat_limit)
                if cs.chat.take(now):
                    self._pending_events.append(["chat", self.world.tick, cs.slot, text])
                else:  # relayed to everyone: one client's flood must not cost the others
                    cs.counters.chat_dropped += 1
                    self.counters["chat lines dropped (rate limit)"] += 1
                    if cs.chat.abusive:
                        cs.cut = True
                        self.counters["disconnected: chat flood"] += 1
                        self.transport.disconnect(cs.client_id)
            else:
                cs.counters.unknown_messages += 1
                self.counters["unknown messages"] += 1
        except WireError:
            cs.counters.bad_messages += 1
            self.counters["bad messages"] += 1

    def _on_inputs(self, cs: ClientState, ack: int, inputs: list, now: float) -> None:
        if ack != msg.NO_TICK:
            sent = cs.sent
            if ack in sent and ack > cs.acked:
                cs.acked = ack  # the delta baseline from now on; the older ones will never be used again
                while next(iter(sent)) < ack:  # insertion order is tick order
                    del sent[next(iter(sent))]
            if cs.rate is not None:
                cs.rate.acked(ack, now)  # the link's measure, also for a snapshot no longer kept as a baseline
        next_tick = self.world.tick + 1
        cs.playing = True
        for ti in inputs:  # the codec checked every field's range
            cs.inputs.add(ti, next_tick, self.tick_time(ti.tick) - now)

    def tick_time(self, tick: int) -> float:
        """When the step that produces world tick `tick` is scheduled."""
        return self.ticker.scheduled_time(tick - 1 - self.world.tick + self.ticker.tick)

    def _on_join(self, e: Connected, now: float) -> None:
        info = {}
        try:
            info = msgpack.unpackb(e.payload, raw=False) if e.payload else {}
            if not isinstance(info, dict):
                info = {}
        except Exception:
            self.counters["bad connect payload"] += 1
        owner = e.identity.client_id if e.identity is not None else None
        if e.identity is not None:  # the token issuer's word for the name beats the client's
            info.update({k: v for k, v in e.identity.fields.items() if k == "name"})
        name = str(info.get("name", f"player{e.client_id}"))[:24]
        cs = self._reclaim(info.get("token"), e.addr, owner)
        if cs is not None:
            cs.client_id, cs.connected, cs.name, cs.addr = e.client_id, True, name, e.addr
            cs.sent.clear()
            cs.acked = -1
            cs.inputs = self._input_buffer()  # the old session's inputs and margins are void
            self.counters["rejoins"] += 1
        else:
            try:
                slot = self.game.add_player(self.world)
            except RuntimeError:  # the game's world is full
                self.transport.disconnect(e.client_id)
                self.counters["denied: world full"] += 1
                return
            self.lagcomp.forget_slot(slot)
            self._packed[slot] = 0
            if self.recorder is not None:
                self.recorder.on_join(self.world.tick, slot, name)
            cs = ClientState(e.client_id, name, slot, int(self._tokens.integers(1, 2**62)), self._input_buffer(),
                             addr=e.addr, owner=owner)
            self.priority.settle(np.array([slot]))
            self.counters["joins"] += 1
        cs.joined_at, cs.playing, cs.cut = now, False, False
        cs.rate = SnapshotRate(self.config.budget_bps, self.config.tick_rate / self.config.snapshot_every) \
            if self.config.adaptive_rate else None
        self.clients[e.client_id] = cs
        welcome = {"client_id": e.client_id, "slot": cs.slot, "token": cs.token, "tick": self.world.tick,
                   **self._welcome_info}
        self.transport.send(e.client_id, Channel.RELIABLE, msg.encode_packed(msg.WELCOME, welcome))
        self._pending_events.append(["join", self.world.tick, cs.slot, name])

    def _input_buffer(self) -> InputBuffer:
        return InputBuffer(self.config.max_input_ahead, release_mask=self.schema.release_mask)

    def _reclaim(self, token, addr, owner: int | None = None) -> ClientState | None:
        """The player a joining client may take back: by its token (from a parked player, or from a
        connection the server has not yet noticed is gone), else one parked from the same address.
        On the secure transport only a client with the same connect-token client id (``owner``) may.

        Without the address rule one host reconnecting in a loop would park a new player each
        time and fill the world."""
        if isinstance(token, int):
            cs = self.away.get(token)
            if cs is not None:
                if cs.owner != owner:
                    self.counters["rejoin refused: another identity"] += 1
                    return None
                return self.away.pop(token)
            for cid, live in list(self.clients.items()):
                if live.token == token:
                    if live.owner != owner:
                        self.counters["rejoin refused: another identity"] += 1
                        return None
                    # the old connection is still open here (its DISCONNECT in flight, or it timed
                    # out only on the client's side): this join replaces it
                    del self.clients[cid]
                    self.transport.disconnect(cid)
                    if live.slot in self._aoi.viewer_specs():
                        self._aoi.remove_viewer(live.slot)
                    return live
        for t, parked in list(self.away.items()):
            if parked.addr == addr and parked.owner == owner or owner is not None and parked.owner == owner:
                return self.away.pop(t)
        return None

    def _on_leave(self, client_id: int, reason: str, now: float) -> None:
        cs = self.clients.pop(client_id, None)
        if cs is None:
            return
        self.counters[f"left: {reason}"] += 1
        cs.connected = False
        cs.left_at = now
        # A parked player is sent nothing, and a rejoin starts from a full snapshot (_on_join clears these
        # anyway), so its delta baselines are dead weight. They are not small: each table is a view of its
        # tick's batch-wide arrays (SnapshotBatch.encode), so one parked ring pins snapshot_ring whole
        # batches, every client's rows (~4.5 MB at 64 clients and 2000 NPCs). A few players parked at once
        # lifted the heap's high-water mark step by step: the soak's RSS creep under churn.
        cs.sent.clear()
        cs.acked = -1
        self.away[cs.token] = cs
        if len(self.away) > self.config.max_clients:
            # parked players never outnumber the seats: the longest-gone leaves the world now
            oldest = min(self.away.values(), key=lambda p: p.left_at)
            self._remove_away(oldest)
        if cs.slot in self._aoi.viewer_specs():
            self._aoi.remove_viewer(cs.slot)
        self._pending_events.append(["leave", self.world.tick, cs.slot, reason])

    # ------------------------------------------------------------------ time

    # The server is itself a sans-IO endpoint: a driver (or VirtualNetwork) pumps it like a
    # ServerProtocol, and ticks run from update() when due.

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        self.transport.receive_datagram(data, addr, now)
        # handle it now, not at the next tick: an input's arrival margin is measured at arrival
        events = self.transport.events()
        if events:
            self.on_events(events, now)

    def get_timer(self) -> float:
        # Tick-driven: handshake replies, acks, resends and keep-alives all go out with the next
        # tick's flush (at most one tick interval late), so the server wakes only to tick.
        return self.ticker.next_deadline()

    def update(self, now: float) -> int:
        """Transport timers, network events, then every tick that is due; returns how many ticks ran."""
        self.transport.update(now)
        self.on_events(self.transport.events(), now)
        n = self.ticker.due(now)
        self.ticks_ran = n
        for _ in range(n):
            self.tick(now)
        self._expire_away(now)
        if now >= self._next_scoreboard:
            self._next_scoreboard = now + self.config.scoreboard_interval
            self._send_scoreboard()
        return n

    def _expire_away(self, now: float) -> None:
        for cs in list(self.away.values()):
            if now - cs.left_at > self.config.rejoin_grace:
                self._remove_away(cs)
        timeout = self.config.join_timeout
        for cs in list(self.clients.values()):
            if not cs.playing and not cs.cut and now - cs.joined_at > timeout:
                cs.cut = True
                self.counters["disconnected: no input after joining"] += 1
                self.transport.disconnect(cs.client_id)

    def _remove_away(self, cs: ClientState) -> None:
        del self.away[cs.token]
        self.game.remove_player(self.world, cs.slot)
        self._packed[cs.slot] = 0  # a free slot steps with no input (Game.step's contract; replays agree)
        self.lagcomp.forget_slot(cs.slot)
        if self.recorder is not None:
            self.recorder.on_leave(self.world.tick, cs.slot)
        self.counters["players removed"] += 1

    def tick(self, now: float) -> list:
        """One simulation tick, then snapshots if one is due. Returns the game events."""
        world = self.world
        t = world.tick + 1
        packed = self._packed
        applied = {}
        action = self.codec.action_mask if self.lag else 0
        for cs in self.clients.values():
            ti = cs.inputs.take(t)
            inp = ti.input if ti is not None else cs.inputs.last
            slot = cs.slot
            packed[slot] = inp
            if inp & action and ti is not None and ti.view_tick != msg.NO_TICK:
                applied[slot] = self.lagcomp.apply_limits(slot, ti.view_tick, ti.view_frac, self._rtt(cs), t)
        fill = self.schema.hold_mask
        for cs in self.away.values():
            packed[cs.slot] = int(packed[cs.slot]) & fill  # an absent player gives no input (its aim stays)
        inputs = self.schema.unpack_many(packed)
        if self.lag:
            events = self.game.step_rewound(world, inputs, self.lagcomp.frame(applied))
            self.lagcomp.record(world.tick, *self.game.hitboxes(world))
        else:
            events = self.game.step(world, inputs)
        shots = self._audits_of(t) if self.lag else []
        if self.recorder is not None:
            self.recorder.on_tick(world, packed, events, [(a.shooter, a.applied, a.hit) for a in shots])
        if shots:
            self._send_shot_results(shots)
        if self.feed:
            self._pending_events.extend(self.game.feed(world, events))
        self.recent_events = events
        if self._pending_events:
            # in messages of bounded size: however many events a tick has, each message can be sent
            chunks = msg.encode_events(self._pending_events, self.config.events_chunk)
            self._pending_events = []
            for data in chunks:
                for cid in list(self.clients):
                    self._send_reliable(cid, data)
        if t % self.config.snapshot_every == 0 and self.clients:
            self._send_snapshots(now)
        return events

    def _rtt(self, cs: ClientState) -> float:
        conn = self.transport.connections.get(cs.client_id)
        return conn.stats.rtt if conn is not None else 0.0

    def _audits_of(self, tick: int) -> list:
        """The audits of this tick's lag-compensated actions (the newest entries), oldest first."""
        shots = []
        for a in reversed(self.lagcomp.audit):
            if a.tick != tick:
                break
            shots.append(a)
        shots.reverse()
        return shots

    def _send_shot_results(self, shots: list) -> None:
        """Tell each shooter what the server made of its shots this tick (hit or miss, rewind applied)."""
        by_slot = {cs.slot: cs for cs in self.clients.values()}
        for a in shots:
            cs = by_slot.get(a.shooter)
            if cs is not None:
                self._send_reliable(cs.client_id, msg.encode_packed(
                    msg.SHOT_RESULT, [a.tick, a.hit, round(a.rewind_ms, 2), a.applied.status]))
        if self.recorder is not None and self.recorder.record_audit:
            self.recorder.on_audit([a.as_dict() for a in shots])

    def _send_reliable(self, client_id: int, data: bytes) -> None:
        try:
            self.transport.send(client_id, Channel.RELIABLE, data)
        except LocalProtocolError:
            # a client that can't keep up with the reliable stream is cut rather than buffered forever
            self.counters["reliable backlog disconnects"] += 1
            self.transport.disconnect(client_id)

    def _send_scoreboard(self) -> None:
        if not self.clients or not self.scored:
            return
        players = list(self.clients.values()) + list(self.away.values())
        scores = self.game.scores(self.world, [cs.slot for cs in players])
        rows = [[cs.slot, cs.name, *(int(v) for v in row)] for cs, row in zip(players, scores)]
        data = msg.encode_packed(msg.SCOREBOARD, rows)
        for cid in list(self.clients):
            self._send_reliable(cid, data)

    # ------------------------------------------------------------------ snapshots

    def entity_values(self) -> np.ndarray:
        """All entities' snapshot rows (the game's entity view), computed once per tick and shared by every client."""
        return self.game.entity_view(self.world).values

    def _update_aoi(self, view):
        c = self.config
        u = self.units
        slots = np.fromiter((cs.slot for cs in self.clients.values()), dtype=np.int64, count=len(self.clients))
        pos = view.pos[slots]
        self._aoi.set_viewers(slots, pos[:, 0], pos[:, 1], self.view_radius * u, (self.view_radius + c.leave_margin) * u,
                              slots)
        return self._aoi.update(view.pos, view.present)

    def _send_snapshots(self, now: float = 0.0) -> None:
        """Every client's snapshot for this tick, aligned, budgeted and encoded as one batch."""
        tick = self.world.tick
        view = self.game.entity_view(self.world)
        aoi = self._update_aoi(view)
        values = view.values
        by_slot = {cs.slot: cs for cs in self.clients.values()}
        clients = [by_slot[slot] for slot in aoi.viewer_ids.tolist()]  # AOI rows are in slot order
        cur_offsets, cur_ids = aoi.offsets, aoi.pairs_entity
        if self.config.adaptive_rate:
            clients, cur_offsets, cur_ids = self._due(clients, cur_offsets, cur_ids, tick, now)
            if not clients:
                return
        bases, base_ticks = [], []
        for cs in clients:
            # the wire carries the baseline's age in one byte
            base = cs.sent.get(cs.acked) if 0 <= tick - cs.acked <= 255 else None
            bases.append(base)
            base_ticks.append(cs.acked if base is not None else None)
            if base is None:
                cs.counters.full_snapshots += 1
        base_offsets = np.zeros(len(clients) + 1, dtype=np.int64)
        base_offsets[1:] = np.cumsum([0 if b is None else len(b) for b in bases])
        present = [b for b in bases if b is not None and len(b)]
        base_ids = np.concatenate([b.ids for b in present]) if present else np.empty(0, np.uint32)
        base_values = (np.concatenate([b.values for b in present]) if present
                       else np.empty((0, values.shape[1]), np.int32))
        batch = SnapshotBatch(cur_offsets, cur_ids, values[cur_ids], base_offsets, base_ids, base_values)
        update = self._budget(batch, clients, view.pos)
        datas, sent_offsets, sent_ids, sent_values = batch.encode(tick, base_ticks, update)
        for i, cs in enumerate(clients):
            data = datas[i]
            s0, s1 = sent_offsets[i], sent_offsets[i + 1]
            # a copy of this client's rows, not a view: a view keeps the whole tick's batch (every client's rows)
            # alive for as long as this client keeps the table as a baseline, and with snapshot rates that differ
            # per client the rings reach back to many different ticks' batches (the soak's RSS grew with them)
            sent = EntityTable._trusted(sent_ids[s0:s1].copy(), sent_values[s0:s1].copy())
            partial = update is not None
            if len(data) > MAX_SNAPSHOT_MESSAGE - 16:
                sent, data = self._shrink(cs, tick, bases[i], base_ticks[i], sent)
                partial = True
            held = _held_mask(sent, values) if partial else None
            if held is not None and len(data) + len(held) + 2 <= MAX_SNAPSHOT_MESSAGE - 8:
                # the budget deferred some entities: say which, so the client neither pauses nor jumps them
                message = msg.encode_held_snapshot_message(cs.inputs.last_applied_tick, cs.inputs.margin(), held,
                                                           data)
                cs.counters.held_entities += int(np.unpackbits(np.frombuffer(held, np.uint8)).sum())
            else:
                message = msg.encode_snapshot_message(cs.inputs.last_applied_tick, cs.inputs.margin(), data)
            try:
                self.transport.send(cs.client_id, Channel.UNRELIABLE, message)
            except LocalProtocolError:
                self.counters["snapshot send errors"] += 1
                continue
            cs.sent[tick] = sent
            if self.snapshot_observer is not None:
                c0, c1 = cur_offsets[i], cur_offsets[i + 1]
                self.snapshot_observer(cs, EntityTable._trusted(cur_ids[c0:c1].astype(np.uint32),
                                                                values[cur_ids[c0:c1]]), message)
            sent_ring = cs.sent
            while len(sent_ring) > self.config.snapshot_ring:  # insertion order is tick order
                del sent_ring[next(iter(sent_ring))]
            cs.counters.snapshots += 1
            cs.counters.snapshot_bytes += len(message)
            if cs.rate is not None:
                cs.rate.sent(tick, len(message), now, rationed=held is not None)

    def _due(self, clients: list, offsets: np.ndarray, ids: np.ndarray, tick: int, now: float):
        """The clients whose snapshot is due this tick (a congested one may get only every n-th; slots are
        staggered so their snapshots spread over the ticks), with their AOI pairs."""
        grid = tick // self.config.snapshot_every
        due = np.ones(len(clients), dtype=bool)
        for i, cs in enumerate(clients):
            rate = cs.rate
            if rate is None:
                continue
            rate.update(now)
            due[i] = (grid + cs.slot) % rate.every == 0
        if due.all():
            return clients, offsets, ids
        lengths = np.diff(offsets)
        keep = np.repeat(due, lengths)
        new_offsets = np.zeros(int(due.sum()) + 1, dtype=offsets.dtype)
        new_offsets[1:] = np.cumsum(lengths[due])
        return [cs for cs, d in zip(clients, due) if d], new_offsets, ids[keep]

    def _client_budget(self, cs: ClientState) -> float:
        """Bytes this client's snapshot may use (its adaptive budget, never above the configured one)."""
        if cs.rate is None:
            return self._snapshot_budget
        return min(self._snapshot_budget * cs.rate.every, cs.rate.snapshot_bytes, MAX_SNAPSHOT_MESSAGE - 8)

    def _budget(self, batch: SnapshotBatch, clients: list, pos: np.ndarray) -> np.ndarray | None:
        """The update mask over all pairs, or None when every client's snapshot fits its budget."""
        cost = pair_costs(batch.in_base, batch.changed_fields, batch.n_fields)
        totals = np.bincount(batch.client, weights=cost, minlength=len(clients))
        slots = np.fromiter((cs.slot for cs in clients), dtype=np.int64, count=len(clients))
        budgets = np.fromiter((self._client_budget(cs) for cs in clients), dtype=np.float64, count=len(clients))
        over = totals > budgets
        self.priority.settle(slots[~over])
        if not over.any():
            return None
        update = np.ones(len(batch.cur_ids), dtype=bool)
        pairs = np.flatnonzero(over[batch.client])  # only clients over budget are rationed
        ids = batch.cur_ids[pairs].astype(np.int64)
        viewer = slots[batch.client[pairs]]
        d = np.abs(pos[ids].astype(np.int64) - pos[viewer]).sum(axis=1)
        weights = (1.0 / (1.0 + d / (100 * self.units))).astype(np.float32)
        by_slot = np.zeros(int(slots.max()) + 1, dtype=np.float64)
        by_slot[slots] = budgets
        update[pairs] = self.priority.choose(viewer, ids, cost[pairs], batch.changed_fields[pairs] > 0, weights,
                                             by_slot, always=ids == viewer)
        return update

    def _shrink(self, cs: ClientState, tick: int, baseline, base_tick, sent: EntityTable):
        """The cost estimate was off and the snapshot overflows a datagram: halve the updates until it fits."""
        data = encode_snapshot(tick, sent, base_tick, baseline)
        while len(data) > MAX_SNAPSHOT_MESSAGE - 16 and len(sent) > 1:
            cs.counters.oversize_retries += 1
            keep = sent.ids[: max(1, len(sent.ids) // 2)]
            sent = select_update(baseline, sent, np.union1d(keep, [cs.slot]))
            data = encode_snapshot(tick, sent, base_tick, baseline)
        return sent, data

    # ------------------------------------------------------------------ stats

    def _totals(self) -> tuple[int, int, int]:
        cs = list(self.clients.values()) + list(self.away.values())
        return (self.world.tick, sum(c.counters.snapshots for c in cs), sum(c.counters.snapshot_bytes for c in cs))

    def mark(self) -> None:
        """Start a measurement window (stats report ticks and snapshot traffic since the mark)."""
        self._mark = self._totals()

    _mark = (0, 0, 0)

    def stats(self) -> dict:
        t = self.ticker.stats()
        now_totals = self._totals()
        since = {k: now_totals[i] - self._mark[i] for i, k in
                 enumerate(("ticks_since_mark", "snapshots_since_mark", "snapshot_bytes_since_mark"))}
        return {"tick": self.world.tick, "clients": len(self.clients), "away": len(self.away), **since,
                "rewind": self.lagcomp.totals(), "recent_shots": self.lagcomp.audit_dicts(8),
                "tick_p50_ms": t["p50_ms"], "tick_p99_ms": t["p99_ms"], "tick_max_ms": t["max_ms"],
                "overruns": t["overruns"], "skipped": t["skipped"],
                "dropped_datagrams": sum(self.transport.dropped.values()), **dict(self.counters)}


def _held_mask(sent: EntityTable, values: np.ndarray) -> bytes | None:
    """The SNAPSHOT_HELD mask of a budgeted snapshot: its rows whose values are not the current ones (``values``,
    the whole view by entity id), i.e. entities the budget did not update; None when every row is current."""
    if not len(sent):
        return None
    stale = (sent.values != values[sent.ids]).any(axis=1)
    if not stale.any():
        return None
    return np.packbits(stale, bitorder="little").tobytes()
