"""The lockstep server, sans-IO: many matches on one ServerProtocol; each match relays every player's input
per logic frame on a fixed schedule and never waits for anyone (Honor of Kings' frame sync).

It serves any game of the Game interface (netcode.game): inputs are the game's records, and the server's
own world (``simulate=True``) is the game's. Per frame f of a match: the inputs tagged f that arrived are
taken, a missing one is filled ("none": no input but the ``hold`` fields kept, or "repeat": the previous
input with its ``release`` fields cleared; counted per client), the bundle is delta-encoded ONCE and every
client gets the bundles it has not acknowledged (at most ``redundancy`` of them) in one unreliable message. The server also runs the
simulation on the bundles (``simulate=True``): it judges checksum disputes and hands late joiners a
snapshot. Matches are phase-staggered across the frame interval so one process serves many of them
without a burst of work at one instant. See docs/LOCKSTEP.md.
"""
from __future__ import annotations

import logging
import math
import os
from collections import Counter, deque

import attrs
import msgpack
import numpy as np

from ..game import Scored, announce, load_game, spec_of
from ..protocol import Channel, Connected, Disconnected, MessageReceived, TransportConfig
from ..protocol.secure_server import ServerSecurity
from ..protocol.transports import server_transport
from ..protocol.endpoint import TransportEndpoint
from ..protocol.ratelimit import Bucket, RateLimit
from ..protocol.events import LocalProtocolError
from ..wire import packet as wp
from ..wire.errors import WireError
from . import messages as m
from .events import CatchUpChecked, Desync, MatchEnded, MatchStarted, PlayerJoined, PlayerLeft
from .frames import apply_frame
from .pacing import SLACK_WINDOW, needed_frames

_GOLDEN = 0.6180339887498949
log = logging.getLogger("netcode.lockstep")


def _in(lo, hi):
    def check(inst, attr, value):
        if not lo <= value <= hi:
            raise ValueError(f"{attr.name} must be in {lo}..{hi}, got {value}")
    return check


@attrs.frozen(kw_only=True)
class LockstepConfig:
    """How the lockstep server runs its matches."""

    frame_rate: int = attrs.field(default=15, validator=_in(15, 60))
    input_delay: int = attrs.field(default=2, validator=_in(0, 30))  # frames between making an input and its frame
    players_per_match: int = attrs.field(default=10, validator=_in(1, m.MAX_PLAYERS))
    # REQUEST replies a client may ask for, in bytes: a 10-byte REQUEST buys up to 8 KB of bundles, so they come
    # from a per-client budget (a burst that re-sends a few seconds of frames, then 6 KB/s: 30 lost datagrams
    # a second at 15 Hz); a client more than 100 REQUESTs over it within 10 s is disconnected
    request_budget: RateLimit = attrs.field(factory=lambda: RateLimit(rate=6000.0, burst=24_000.0, abuse=100,
                                                                      window=10.0))
    max_matches: int = attrs.field(default=128, validator=_in(1, 4096))
    redundancy: int = attrs.field(default=3, validator=_in(1, 32))  # K: unacknowledged bundles per packet
    checksum_every: int = attrs.field(default=15, validator=_in(1, 3600))
    fill: str = attrs.field(default="none", validator=attrs.validators.in_(("none", "repeat")))
    simulate: bool = True  # authoritative lockstep: the server steps every match too
    catch_up: str = attrs.field(default="snapshot", validator=attrs.validators.in_(("snapshot", "replay")))
    resync_on_desync: bool = True  # send a diverged client a fresh snapshot (needs simulate)
    match_frames: int = 0  # end a match after this many frames (0 = when everyone left)
    start_players: int = 0  # a match starts when this many joined (0 = players_per_match) ...
    start_timeout: float = 5.0  # ... or this long after its first join
    rejoin_grace: float = 60.0  # seconds an absent player's slot waits for a reconnect
    input_window: int = attrs.field(default=64, validator=_in(8, 1024))  # frames ahead an input may be
    record_dir: str | None = None  # write each match's replay here (needs simulate); None: no recording
    late_frame_ms: float = -1.0  # a frame broadcast later than this after its schedule is late (-1 = interval/4)
    seed: int = 1
    game_options: dict = attrs.field(factory=dict)  # the game's make_config options (e.g. the arena's npcs)
    # timeouts, keep-alives and absent players are checked this often: an O(clients) pass, so rarely (players
    # in a match get a datagram every frame and need no keep-alive; a connection times out after 5 s)
    sweep_interval: float = 1.0
    # transport events are collected at most this often (ServerProtocol.events() is O(connections))
    pull_interval: float = 0.002
    max_catchup: int = 8  # frames one update may build for one match (a stalled process catches up this fast)
    sims_per_update: int = attrs.field(default=2, validator=_in(1, 1 << 20))  # server steps per update call
    stagger: bool = True  # spread match frame phases over the interval
    # The server asks to be woken this much before a frame's schedule and builds any frame due within twice
    # this: event-loop timers are ms-grained (libuv) and fire up to ~1 ms off either way, so this neither
    # builds late nor spins on a timer that fired a little early.
    early: float = attrs.field(default=0.001, validator=_in(0.0, 0.005))

    @property
    def interval(self) -> float:
        return 1.0 / self.frame_rate

    @property
    def late_threshold(self) -> float:
        return self.interval / 4 if self.late_frame_ms < 0 else self.late_frame_ms / 1000


@attrs.define
class PlayerCounters:
    """What the server counted for one client."""

    missing: int = 0  # frames built without this client's input that never came (a late one is carried, not missing)
    late: int = 0  # inputs that arrived after their frame was built: each carried to the next open frame
    ahead: int = 0  # inputs too far in the future (rejected)
    duplicate: int = 0
    bad_messages: int = 0
    unknown_messages: int = 0
    requests: int = 0
    request_frames: int = 0
    requests_dropped: int = 0  # REQUESTs past the client's reply budget
    bytes_in: int = 0  # lockstep message bytes (transport headers not included)
    bytes_out: int = 0
    messages_in: int = 0
    messages_out: int = 0
    checksums: int = 0
    desyncs: int = 0
    resyncs: int = 0


@attrs.define(eq=False)
class Player:
    client_id: int
    name: str
    token: int
    match: "Match"
    slot: int
    acked: int = 0  # newest frame the client holds with every frame before it
    connected: bool = True
    left_at: float = 0.0
    first_input: int = -1  # the frame of the first input received (missing counts from then on)
    joined_frame: int = 0
    # (frame, counted as missing) of frames built without this client's input, oldest first: it may come late
    missed: deque = attrs.Factory(deque)
    slack: deque = attrs.Factory(lambda: deque(maxlen=SLACK_WINDOW))  # seconds recent inputs arrived before their frame
    carried_since_advice: int = 0
    carried_tag: dict = attrs.Factory(dict)  # ring row -> frame of the own input merged there (-1: only late ones)
    desynced_at: int = -1
    counters: PlayerCounters = attrs.Factory(PlayerCounters)
    replies: Bucket | None = None  # bytes of REQUEST replies this client may still ask for (made on its first)
    owner: int | None = None  # secure transport: the connect token's client id (only it may rejoin this seat)


class Match:
    """One lockstep match: slots, input ring, bundle log, and (optionally) the authoritative world."""

    def __init__(self, match_id: int, config: LockstepConfig, created: float, game, sim):
        c = config
        self.id = match_id
        self.config = c
        self.game = game
        self.n = c.players_per_match
        self.sim = sim  # the game's config, shared by every match (a game may cache per config)
        self.size = game.inputs.record_size
        self.world = game.new_world(sim, c.seed)
        self.initial = game.world_to_bytes(self.world)  # frame 0 (replay catch-up starts here)
        self.slots: list[Player | None] = [None] * self.n
        self.frame = 0
        self.created = created
        self.start: float | None = None
        self.next_deadline = math.inf
        self.ended = False
        self.active = 0  # slots in the world (after the last built frame)
        self.pending_join = 0
        self.pending_leave = 0
        r = c.input_window
        self.r = r
        self.ring = [bytearray(self.n * self.size) for _ in range(r)]  # inputs received per frame, by slot
        self.ring_has = [0] * r
        self.ring_carried = [0] * r  # slots whose input in that row carries a late input (merged or alone)
        self.prev = bytes(self.n * self.size)  # the last built frame's records
        self.log = bytearray()  # frame f's records at (f-1) * n * size
        self.members: dict[int, tuple[int, int]] = {}  # frame -> (join mask, leave mask)
        self.blobs: dict[int, bytes] = {}  # recent frames' delta-encoded bundles
        self.checksums: dict[int, int] = {}  # frame -> server checksum (simulate) for recent checksum frames
        self.reports: dict[int, dict[int, tuple[int, bool]]] = {}  # frame -> client_id -> (crc, handshake)
        self.sim_queue: deque = deque()  # built frames the world has not stepped yet (simulated after the send)
        self.sim_frame = 0
        self.recorder = None  # a replay MatchRecorder while the match is recorded

    def name_of(self, slot: int) -> str:
        p = self.slots[slot]
        return p.name if p is not None else f"slot{slot}"

    @property
    def players(self) -> list[Player]:
        return [p for p in self.slots if p is not None]

    def free_slot(self) -> int | None:
        for s, p in enumerate(self.slots):
            if p is None and not (self.active | self.pending_join) >> s & 1:
                return s
        return None

    def scheduled(self, frame: int) -> float:
        return self.start + (frame - 1) * self.config.interval

    def log_frame(self, f: int) -> bytes:
        k = self.n * self.size
        return bytes(self.log[(f - 1) * k:f * k])


def _take_missed(missed: deque, g: int) -> bool | None:
    """Remove frame ``g`` from a player's missed frames: whether it was counted missing (None: not there)."""
    for i, (f, counted) in enumerate(missed):
        if f == g:
            del missed[i]
            return counted
        if f > g:
            return None
    return None


class LockstepServer(TransportEndpoint):
    """Hosts lockstep matches over one ServerProtocol; an endpoint (receive_datagram / update /
    datagrams_to_send / events / get_timer) for VirtualNetwork or DatagramDriver."""

    def __init__(self, config: LockstepConfig | None = None, *, game=None, now: float = 0.0,
                 max_clients: int | None = None, transport_config: TransportConfig | None = None,
                 secret: bytes | None = None, spec: str | None = None, security: ServerSecurity | None = None,
                 transport=None):
        self.config = c = config or LockstepConfig()
        if not c.simulate and c.catch_up == "snapshot":
            self.config = c = attrs.evolve(c, catch_up="replay")  # no world to snapshot
        self.game = game if game is not None else load_game()
        if "lockstep" not in self.game.modes:
            raise ValueError(f"{self.game.name} does not support lockstep (modes: {', '.join(self.game.modes)})")
        self.spec = spec or spec_of(self.game)
        self.schema = self.game.inputs
        self.codec = m.FrameCodec(self.schema)
        self.sim = self.game.make_config(mode="lockstep", max_players=c.players_per_match, tick_rate=c.frame_rate,
                                         **c.game_options)
        if self.sim.max_players != c.players_per_match:
            raise ValueError(f"{self.game.name}'s lockstep config has {self.sim.max_players} player slots, "
                             f"the matches {c.players_per_match}")
        self._announce = announce(self.game, self.sim, self.spec)
        cap = max_clients or min(65535, c.max_matches * c.players_per_match)
        self.accept_payload = msgpack.packb({"mode": "lockstep", "frame_rate": c.frame_rate, "game": self.spec,
                                             "game_version": int(self.game.version)})
        # ``transport``: a room's share of a host's transport (netcode.hosting), else one of our own
        self.transport = transport if transport is not None else server_transport(
            cap, transport_config, secret, self.accept_payload, security)
        self.matches: dict[int, Match] = {}
        self.players: dict[int, Player] = {}  # by client_id, connected
        self.everyone: list[Player] = []  # every player ever seen (for stats)
        self.away: dict[int, Player] = {}  # by token
        self.results: list[dict] = []
        self.counters: Counter[str] = Counter()
        self._events: list = []
        self._dirty: set[int] = set()  # client ids with something queued
        self._flush_all = False
        self._next_match = 0
        self._next_sweep = now + c.sweep_interval
        self._last_pull = -math.inf
        self._tokens = np.random.default_rng(int.from_bytes(secret or os.urandom(16), "little"))
        self.jitter = np.zeros(1 << 16)  # frame broadcast - schedule, seconds (ring)
        self.jitter_count = 0
        self.frames_built = 0
        self.frames_late = 0
        self.sim_seconds = 0.0
        self.wake = None  # the driver's wake(): called when a handshake datagram wants a prompt answer
        self.built: list[float] = []  # schedules of frames built since the driver last looked (send jitter)
        self._sim_pending = False
        self._sim_todo: deque[Match] = deque()  # matches with frames built but not yet stepped
        self._writer = None  # the replay writer thread, once a match is recorded

    # ------------------------------------------------------------------ endpoint

    def request_flush(self) -> None:
        """Flush every connection at the next datagrams_to_send (a host routed a join or a leave here)."""
        self._flush_all = True

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        self.transport.receive_datagram(data, addr, now)
        if len(data) < 4 or data[3] != wp.PAYLOAD:
            self._flush_all = True  # handshake and DISCONNECT replies should not wait for a frame
            if self.wake is not None:
                self.wake()

    def get_timer(self) -> float | None:
        if self._flush_all or self._dirty or self._sim_pending:
            return 0.0
        t = self._next_sweep
        for match in self.matches.values():
            if match.next_deadline < t:
                t = match.next_deadline
        return t - self.config.early

    def update(self, now: float) -> None:
        if now - self._last_pull >= self.config.pull_interval:
            self._pull(now)
        if now >= self._next_sweep:
            self._sweep(now)
        due = now + 2 * self.config.early
        built_any = False
        stale = self._sim_pending  # steps left over from an earlier update: never starve them
        for match in list(self.matches.values()):
            if match.start is None:
                if now - match.created >= self.config.start_timeout and match.players:
                    self._start(match, now)
                continue
            built = 0
            while match.next_deadline <= due and not match.ended and built < self.config.max_catchup:
                if built == 0 and now - self._last_pull >= self.config.pull_interval:
                    self._pull(now)  # inputs that arrived since the last pull count for this frame
                self._build_frame(match, now)
                built += 1
            built_any = built_any or built > 0
        # The server's own simulation runs after the frames went out (the next flush), so a frame's
        # datagrams never wait for a step; get_timer() asks for that flush at once.
        # At most `sims_per_update` steps per call, so a frame that falls due meanwhile waits for one step,
        # not for every match's.
        if self._sim_pending and (not built_any or stale):
            todo = self._sim_todo
            budget = self.config.sims_per_update
            while todo and budget > 0:
                match = todo[0]
                budget -= self._simulate(match, budget)
                if not match.sim_queue:
                    todo.popleft()
            self._sim_pending = bool(todo)

    def _simulate(self, match: Match, limit: int = 1 << 30) -> int:
        c = self.config
        q = match.sim_queue
        done = 0
        while q and done < limit:
            done += 1
            f, records, join, leave = q.popleft()
            apply_frame(self.game, match.world, records, join, leave, match.recorder, match.name_of)
            match.sim_frame = f
            if f % c.checksum_every == 0:
                crc = match.checksums[f] = self.game.checksum(match.world)
                match.checksums.pop(f - 64 * c.checksum_every, None)
                waiting = match.reports.pop(f, None)
                if waiting:
                    self._judge(match, f, waiting, crc, "server")
        return done

    def datagrams_to_send(self, now: float) -> list:
        if self._flush_all:
            self._flush_all = False
            self._dirty.clear()
            return self.transport.datagrams_to_send(now)
        out: list = []
        if self._dirty:
            conns = self.transport.connections
            for cid in self._dirty:
                conn = conns.get(cid)
                if conn is not None:
                    conn.datagrams(now, out)
            self._dirty.clear()
        return out

    # ------------------------------------------------------------------ transport events

    def _pull(self, now: float) -> None:
        self._last_pull = now
        for e in self.transport.events():
            if type(e) is MessageReceived:
                p = self.players.get(e.client_id)
                if p is not None:
                    self._on_message(p, e.channel, e.data, now)
            elif isinstance(e, Connected):
                self._on_join(e, now)
            elif isinstance(e, Disconnected):
                self._on_leave(e.client_id, str(e.reason), now)

    def _send(self, p: Player, channel: int, data: bytes) -> None:
        try:
            self.transport.send(p.client_id, channel, data)
        except LocalProtocolError:
            self.counters["send failed"] += 1
            return
        p.counters.bytes_out += len(data)
        p.counters.messages_out += 1
        self._dirty.add(p.client_id)

    def _on_join(self, e: Connected, now: float) -> None:
        info = {}
        try:
            info = msgpack.unpackb(e.payload, raw=False) if e.payload else {}
        except Exception:
            self.counters["bad connect payload"] += 1
        if not isinstance(info, dict):
            info = {}
        owner = e.identity.client_id if e.identity is not None else None
        if e.identity is not None:  # the token issuer's word for the name beats the client's
            info.update({k: v for k, v in e.identity.fields.items() if k == "name"})
        name = str(info.get("name", f"player{e.client_id}"))[:24]
        token = info.get("token")
        p = self.away.get(token) if isinstance(token, int) else None
        if p is not None and p.owner != owner:
            self.counters["rejoin refused: another identity"] += 1
            p = None
        elif p is not None:
            del self.away[token]
        if p is not None and not p.match.ended:
            p.client_id, p.connected, p.name = e.client_id, True, name
            p.missed.clear()
            p.slack.clear()
            p.first_input = -1
            self.counters["rejoins"] += 1
        else:
            match = self._match_with_room(now)
            if match is None:
                self.counters["denied: no room"] += 1
                self.transport.disconnect(e.client_id)
                self._flush_all = True
                return
            slot = match.free_slot()
            p = Player(e.client_id, name, int(self._tokens.integers(1, 2**62)), match, slot, owner=owner)
            match.slots[slot] = p
            match.pending_join |= 1 << slot
            self.everyone.append(p)
            self.counters["joins"] += 1
            need = self.config.start_players or self.config.players_per_match
            if match.start is None and len(match.players) >= need:
                self._start(match, now)
        self.players[e.client_id] = p
        self._events.append(PlayerJoined(p.match.id, p.client_id, p.slot, p.name, p.match.frame))
        self._welcome(p)
        roster = m.encode_map(m.ROSTER, {p.slot: p.name})
        for q in p.match.players:
            if q is not p and q.connected:
                self._send(q, Channel.RELIABLE, roster)

    def _welcome(self, p: Player) -> None:
        """Catch-up: a snapshot at the match's current frame, or frame 0 and every bundle since (replay)."""
        match = p.match
        c = self.config
        snapshot = c.catch_up == "snapshot"
        if match.sim_queue:
            self._simulate(match)  # the snapshot is the world at match.frame
        p.acked = match.frame if snapshot else 0
        self._send(p, Channel.RELIABLE, m.encode_map(m.WELCOME, {
            "client_id": p.client_id, "match": match.id, "slot": p.slot, "token": p.token,
            "frame_rate": c.frame_rate, "input_delay": c.input_delay, "redundancy": c.redundancy,
            "checksum_every": c.checksum_every, "players": match.n, **self._announce,
            "frame": match.frame if snapshot else 0, "live_frame": match.frame,
            "world": self.game.world_to_bytes(match.world) if snapshot else match.initial,
            "base": match.prev if snapshot else bytes(len(match.prev)),
            "names": {q.slot: q.name for q in match.players}}))

    def _match_with_room(self, now: float) -> Match | None:
        for match in self.matches.values():
            if not match.ended and match.free_slot() is not None and (
                    self.config.match_frames == 0 or match.frame < self.config.match_frames * 3 // 4):
                return match
        if len(self.matches) >= self.config.max_matches:
            return None
        match = Match(self._next_match, self.config, now, self.game, self.sim)
        self._next_match += 1
        self.matches[match.id] = match
        return match

    def _start(self, match: Match, now: float) -> None:
        iv = self.config.interval
        start = now + iv  # the first frame one interval after the start, so the first inputs can arrive
        if self.config.stagger:
            phase = (match.id * _GOLDEN % 1.0) * iv
            start += (phase - start) % iv
        match.start = start
        match.next_deadline = start
        if self.config.record_dir is not None and self.config.simulate:
            match.recorder = self._recorder(match)
        self._events.append(MatchStarted(match.id, len(match.players), start))

    def _recorder(self, match: Match):
        """A replay of the match from frame 0, written by one thread shared by all matches (docs/REPLAY.md)."""
        from ..replay.writer import MatchRecorder, ReplayWriter
        c = self.config
        if self._writer is None:
            self._writer = ReplayWriter("replay-writer lockstep")
        info = {"match": match.id, "players_per_match": c.players_per_match, "input_delay": c.input_delay,
                "redundancy": c.redundancy, "fill": c.fill, "checksum_every": c.checksum_every}
        try:
            return MatchRecorder.for_server(c.record_dir, self.game, match.sim, "lockstep", c.frame_rate, seed=c.seed,
                                            label=f"m{match.id}-{c.seed}", server_info=info, writer=self._writer,
                                            spec=self.spec)
        except OSError as e:
            self.counters["replay not recorded"] += 1
            log.error("lockstep match %d: not recording a replay: %s", match.id, e)
            return None

    def _on_leave(self, client_id: int, reason: str, now: float) -> None:
        self._flush_all = True
        p = self.players.pop(client_id, None)
        if p is None:
            return
        p.connected = False
        p.left_at = now
        if p.match.ended:
            return
        self._events.append(PlayerLeft(p.match.id, client_id, p.slot, reason, p.match.frame))
        match = p.match
        if match.start is None or p.first_input < 0 or p.first_input > match.frame:
            # never played (no frame was built with its input): no seat is kept for it (join-then-leave would otherwise reserve every slot of
            # every match for the whole rejoin grace)
            self.counters["seats freed: left before playing"] += 1
            self._release(p)
            return
        self.away[p.token] = p

    def _release(self, p: Player) -> None:
        """Give up an absent player's seat: free before its match starts, a leave in the next frame after."""
        match = p.match
        if match.start is None:
            match.slots[p.slot] = None
            match.pending_join &= ~(1 << p.slot)
        else:
            match.pending_leave |= 1 << p.slot

    # ------------------------------------------------------------------ messages

    def _on_message(self, p: Player, channel: int, data: bytes, now: float) -> None:
        p.counters.bytes_in += len(data)
        p.counters.messages_in += 1
        try:
            kind = m.message_type(data)
            if kind == m.INPUT:
                self._on_input(p, *self.codec.decode_input(data), now)
            elif kind == m.CHECKSUM and channel == Channel.RELIABLE:
                self._on_checksum(p, *m.decode_checksum(data))
            elif kind == m.REQUEST:
                self._on_request(p, *m.decode_request(data), now)
            else:
                p.counters.unknown_messages += 1
                self.counters["unknown messages"] += 1
        except WireError:
            p.counters.bad_messages += 1
            self.counters["bad messages"] += 1

    def _on_input(self, p: Player, ack_lo: int, first_lo: int, entries: list, now: float) -> None:
        match = p.match
        if match.ended:
            return
        f0 = match.frame
        ack = m.unwrap(ack_lo, f0)
        if p.acked < ack <= f0:
            p.acked = ack
        first = m.unwrap(first_lo, f0 + 1)
        bit = 1 << p.slot
        size = match.size
        at = p.slot * size
        c = p.counters
        release = self.schema.release_mask
        for i, packed in enumerate(entries):
            g = first + i
            if g <= f0:
                counted = _take_missed(p.missed, g)
                if counted is not None:  # its frame was built without it: it goes into the next open frame instead
                    c.late += 1
                    if counted:
                        c.missing -= 1  # it was sent after all: "missing" counts only inputs that never come
                    if p.first_input < 0:  # a player whose every input is late is playing too: count from here
                        p.first_input = g
                    if match.start is not None:
                        p.slack.append(match.scheduled(g) - now)
                    self._carry(match, p, packed, f0 + 1)
                continue
            if g >= f0 + match.r:
                c.ahead += 1
                continue
            row = g % match.r
            if match.ring_has[row] & bit:
                if not match.ring_carried[row] & bit or p.carried_tag.get(row) == g:
                    c.duplicate += 1
                    continue
                # a late input was carried into this frame before the frame's own input came: the own input is
                # newer, so it wins, and keeps the late one's presses (release fields are button masks)
                old = int.from_bytes(match.ring[row][at:at + size], "little")
                packed |= old & release
                p.carried_tag[row] = g
            else:
                match.ring_has[row] |= bit
            if match.start is not None:
                p.slack.append(match.scheduled(g) - now)
            match.ring[row][at:at + size] = packed.to_bytes(size, "little")
            if p.first_input < 0:
                p.first_input = g

    def _carry(self, match: Match, p: Player, packed: int, h: int) -> None:
        """Put a late input into frame ``h`` (the next one to be built): no input is thrown away. Two inputs for
        one frame merge: the newer one's fields, and the presses (release fields: button masks) of both."""
        row = h % match.r
        bit, size = 1 << p.slot, match.size
        at = p.slot * size
        if match.ring_has[row] & bit:
            old = int.from_bytes(match.ring[row][at:at + size], "little")
            if not match.ring_carried[row] & bit or p.carried_tag.get(row) == h:
                packed = old | (packed & self.schema.release_mask)  # the frame's own input: newer than a late one
                p.carried_tag[row] = h  # its repeats are duplicates
            else:  # an earlier late input: this one is newer
                packed |= old & self.schema.release_mask
        else:
            match.ring_has[row] |= bit
            p.carried_tag[row] = -1  # only late input so far: the frame's own input, when it comes, is newer
        match.ring_carried[row] |= bit
        match.ring[row][at:at + size] = packed.to_bytes(size, "little")
        p.carried_since_advice += 1
        self.counters["late inputs carried"] += 1

    def _on_checksum(self, p: Player, frame: int, crc: int, handshake: bool) -> None:
        match = p.match
        p.counters.checksums += 1
        if frame > match.frame or frame % self.config.checksum_every:
            self.counters["checksum for a bad frame"] += 1
            return
        if self.config.simulate:
            if frame > match.sim_frame:  # the server has not stepped that frame yet: judged when it does
                match.reports.setdefault(frame, {})[p.client_id] = (crc, handshake)
                return
            expected = match.checksums.get(frame)
            if expected is None:
                self.counters["checksum too old"] += 1
                return
            self._judge(match, frame, {p.client_id: (crc, handshake)}, expected, "server")
        else:
            match.reports.setdefault(frame, {})[p.client_id] = (crc, handshake)
            self._vote(match, frame, final=False)

    def _vote(self, match: Match, frame: int, final: bool) -> None:
        """Relay mode: the majority of the match's reports decides; a tie (e.g. 2 players) names everyone."""
        reports = match.reports.get(frame)
        if not reports:
            match.reports.pop(frame, None)
            return
        present = [q.client_id for q in match.players if q.connected]
        if not final and any(cid not in reports for cid in present):
            return
        del match.reports[frame]
        tally = Counter(crc for crc, _ in reports.values())
        ranked = tally.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            self._judge(match, frame, reports, None, "tie")
        else:
            self._judge(match, frame, reports, ranked[0][0], "majority")

    def _judge(self, match: Match, frame: int, reports: dict, expected: int | None, rule: str) -> None:
        diverged = []
        for cid, (crc, handshake) in reports.items():
            p = self.players.get(cid)
            ok = expected is not None and crc == expected
            if handshake and p is not None:
                self._send(p, Channel.RELIABLE, m.encode_sync(frame, ok))
                self._events.append(CatchUpChecked(match.id, cid, frame, ok))
            if not ok:
                diverged.append(cid)
        if not diverged:
            return
        fresh = [cid for cid in diverged if cid in self.players and self.players[cid].desynced_at < 0]
        for cid in diverged:
            q = self.players.get(cid)
            if q is not None:
                q.counters.desyncs += 1
                if q.desynced_at < 0:
                    q.desynced_at = frame
        self.counters["desync reports"] += len(diverged)
        if fresh or rule == "tie":
            self._events.append(Desync(match.id, frame, tuple(sorted(diverged)), expected,
                                       {cid: crc for cid, (crc, _) in reports.items()}, rule))
            if match.recorder is not None:
                slots = {cid: self.players[cid].slot for cid in reports if cid in self.players}
                match.recorder.on_event("desync", {"rule": rule, "expected": expected,
                                                   "diverged": sorted(slots[c] for c in diverged if c in slots),
                                                   "reports": {slots[c]: crc for c, (crc, _) in reports.items()
                                                               if c in slots}}, tick=frame)
        if self.config.simulate and self.config.resync_on_desync and rule == "server":
            for cid in diverged:
                q = self.players.get(cid)
                if q is not None:
                    q.counters.resyncs += 1
                    q.desynced_at = -1
                    self._welcome(q)

    def _on_request(self, p: Player, first: int, count: int, now: float) -> None:
        match = p.match
        c = p.counters
        c.requests += 1
        if p.replies is None:
            p.replies = Bucket(self.config.request_budget)
        if not p.replies.take(now, cost=1000.0):  # the first message of a reply is paid up front
            c.requests_dropped += 1
            self.counters["requests dropped (rate limit)"] += 1
            if p.replies.abusive:
                self.counters["disconnected: request flood"] += 1
                self.transport.disconnect(p.client_id)
            return
        first = max(1, first)
        last = min(match.frame, first + count - 1)
        # bytes of replies to this request: several messages, each below the datagram size, within the budget
        budget = min(8 * 1000, 1000 + int(p.replies.tokens))
        spent = 0
        # the input ack of a reply is the frontier too: acking up to the match's frame would tell the client to
        # stop re-sending an input that missed its frame and has not come yet (it would be lost)
        input_ack = self._input_frontier(p, match.frame)
        while first <= last and budget > 0:
            blobs, size, prev = [], 0, None
            f = first
            while f <= last and size < 1000 and len(blobs) < 255:
                records = match.log_frame(f)
                join, leave = match.members.get(f, (0, 0))
                blob = self.codec.encode_bundle(records, prev, join, leave)
                blobs.append(blob)
                size += len(blob)
                prev = records
                f += 1
            self._send(p, Channel.UNRELIABLE, m.encode_frames(input_ack, first, blobs))
            c.request_frames += len(blobs)
            budget -= size
            spent += size
            first = f
        p.replies.tokens = max(0.0, p.replies.tokens - max(0, spent - 1000))

    # ------------------------------------------------------------------ frames

    def _build_frame(self, match: Match, now: float) -> None:
        c = self.config
        f = match.frame + 1
        n = match.n
        row = f % match.r
        has = match.ring_has[row]
        got = match.ring[row]
        join, leave = match.pending_join, match.pending_leave
        match.pending_join = match.pending_leave = 0
        active = (match.active & ~leave) | join
        size = match.size
        records = bytearray(n * size)
        prev = match.prev
        keep = self.schema.release_mask if c.fill == "repeat" else ~self.schema.hold_mask
        filled = 0
        for s in range(n):
            if not active >> s & 1:
                continue
            a, b = s * size, (s + 1) * size
            if has >> s & 1:
                records[a:b] = got[a:b]
                continue
            if not join >> s & 1:  # a joining slot starts from "no input"
                # "none": no input, but the hold fields stay (an aim stays put); "repeat": release fields cleared
                records[a:b] = (int.from_bytes(prev[a:b], "little") & ~keep).to_bytes(size, "little")
            p = match.slots[s]
            if p is not None and p.connected:
                # remembered for the input window: if it comes late it is carried, not lost
                counted = 0 <= p.first_input <= f
                missed = p.missed
                missed.append((f, counted))
                while missed[0][0] <= f - match.r:
                    missed.popleft()
                if counted:
                    filled |= 1 << s
                    p.counters.missing += 1
        carried = match.ring_carried[row] & active
        match.ring_has[row] = 0
        match.ring_carried[row] = 0
        records = bytes(records)
        blob = self.codec.encode_bundle(records, prev, join, leave, filled, carried)
        match.log += records
        if join or leave:
            match.members[f] = (join, leave)
        match.blobs[f] = blob
        match.blobs.pop(f - 2 * c.redundancy - 2, None)
        match.prev = records
        match.active = active
        match.frame = f
        if c.simulate:
            if not match.sim_queue:
                self._sim_todo.append(match)
            match.sim_queue.append((f, records, join, leave))
            self._sim_pending = True
        elif f % c.checksum_every == 0:
            stale = f - 4 * c.checksum_every
            for g in [g for g in match.reports if g <= stale]:
                self._vote(match, g, final=True)
        # leaves take effect in this frame: free the slots
        for s in range(n):
            if leave >> s & 1:
                match.slots[s] = None
        # one encoding per frame, shared: each client gets its unacknowledged tail (at most K)
        lo = f - c.redundancy + 1
        advice_every = max(1, c.frame_rate // 2)  # each client's ADVICE twice a second, slots staggered
        for p in match.slots:
            if p is None or not p.connected:
                continue
            first = max(p.acked + 1, lo)
            blobs = [match.blobs[g] for g in range(first, f + 1)]
            # input ack: the client's inputs are all here (or carried) up to g: an input that missed its frame
            # and has not come yet holds it back, so the client keeps sending it until it does
            g = self._input_frontier(p, f)
            if g == f:
                bit = 1 << p.slot
                while g + 1 < f + match.r and match.ring_has[(g + 1) % match.r] & bit:
                    g += 1
            self._send(p, Channel.UNRELIABLE, m.encode_frames(g, first, blobs))
            if (f + p.slot) % advice_every == 0:
                self._advise(p)
        scheduled = match.scheduled(f)
        jitter = now - scheduled
        if len(self.built) < 4096:
            self.built.append(scheduled)
        self.jitter[self.jitter_count & 0xFFFF] = jitter
        self.jitter_count += 1
        self.frames_built += 1
        if abs(jitter) > c.late_threshold:
            self.frames_late += 1
        match.next_deadline = match.scheduled(f + 1)
        if c.match_frames and f >= c.match_frames:
            self._end(match, "frames")

    def _advise(self, p: Player) -> None:
        """ADVICE: the frames of delay plus lead this client's link needs, by the server's own measure of it (its
        RTT estimate, not the client's word), and how early its inputs arrive (docs/LOCKSTEP.md)."""
        conn = self.transport.connections.get(p.client_id)
        if conn is None:
            return
        st = conn.stats
        need = needed_frames(st.rtt, st.jitter, self.config.interval)
        # the third latest of the recent inputs: one that came late because its first copy was lost (a repeat
        # brought it a frame later) says nothing about the lead, two in 16 seldom do
        slack_ms = round(sorted(p.slack)[min(2, len(p.slack) - 1)] * 1000) if p.slack else 0
        self._send(p, Channel.UNRELIABLE, m.encode_advice(need, slack_ms, p.carried_since_advice))
        p.carried_since_advice = 0

    @staticmethod
    def _input_frontier(p: Player, f: int) -> int:
        """The newest frame up to which every input of ``p`` since its first one has come (``f``: all)."""
        first = p.first_input
        if first < 0:
            return f
        for g, _ in p.missed:
            if g >= first:
                return g - 1
        return f

    def _end(self, match: Match, reason: str) -> None:
        if match.sim_queue:
            self._simulate(match)
        match.ended = True
        match.next_deadline = math.inf
        w = match.world
        simulated = self.config.simulate
        scored = simulated and isinstance(self.game, Scored)
        scores = self.game.scores(w, list(range(match.n))) if scored else [None] * match.n
        players = []
        for s in range(match.n):
            p = match.slots[s]
            row = {"slot": s, "name": p.name if p else None, "score": int(scores[s][0]) if scored else None,
                   "missing": p.counters.missing if p else None, "late": p.counters.late if p else None}
            if scored:
                row["scores"] = dict(zip(self.game.score_columns, (int(v) for v in scores[s])))
            players.append(row)
        result = {"match": match.id, "frames": match.frame, "reason": reason, "players": players,
                  "checksum": self.game.checksum(w) if simulated else None}
        self.results.append(result)
        if match.recorder is not None:
            match.recorder.on_event("result", result)
            match.recorder.close(wait=False)  # the writer thread finishes the file; this frame goes on
            match.recorder = None
        for p in match.players:
            if p.connected:
                self._send(p, Channel.RELIABLE, m.encode_map(m.END, result))
        self._events.append(MatchEnded(match.id, result))
        del self.matches[match.id]

    def shutdown(self) -> None:
        """The server stops: every running match ends (reason "shutdown"); when this returns, every replay
        file (of these matches and of those that ended before) is complete on disk."""
        for match in list(self.matches.values()):
            if match.start is not None and not match.ended:
                self._end(match, "shutdown")
        if self._writer is not None:
            self._writer.stop()
            self._writer = None

    # ------------------------------------------------------------------ housekeeping

    def _sweep(self, now: float) -> None:
        c = self.config
        self._next_sweep = now + c.sweep_interval
        self.transport.update(now)
        self._flush_all = True  # keep-alives and resends of every connection
        for token, p in list(self.away.items()):
            if p.match.ended:
                del self.away[token]
            elif now - p.left_at >= c.rejoin_grace:
                del self.away[token]
                self._release(p)
        for match in list(self.matches.values()):
            if match.ended:
                continue
            if match.start is not None and not any(q.connected for q in match.players) and not any(
                    q.match is match for q in self.away.values()):
                self._end(match, "empty")
            elif match.start is None and not match.players:
                del self.matches[match.id]

    # ------------------------------------------------------------------ measurements

    def jitter_samples(self) -> np.ndarray:
        return self.jitter[:min(self.jitter_count, len(self.jitter))]

    def mark(self) -> None:
        """Start a measurement window (e.g. after warm-up)."""
        self.jitter_count = 0
        self.frames_built = self.frames_late = 0
        for p in self.everyone:
            p.counters.bytes_in = p.counters.bytes_out = 0
            p.counters.missing = p.counters.late = 0
            p.missed = deque((g, False) for g, _ in p.missed)  # counted before the mark: not again after it

    def stats(self) -> dict:
        j = np.abs(self.jitter_samples()) * 1000
        per = self.everyone
        return {
            "matches": len(self.matches), "clients": len(self.players), "away": len(self.away),
            "frames": self.frames_built, "frames_late": self.frames_late,
            "jitter_p50_ms": float(np.percentile(j, 50)) if len(j) else 0.0,
            "jitter_p99_ms": float(np.percentile(j, 99)) if len(j) else 0.0,
            "jitter_max_ms": float(j.max()) if len(j) else 0.0,
            "missing_inputs": sum(p.counters.missing for p in per),
            "late_inputs": sum(p.counters.late for p in per),
            "desyncs": self.counters["desync reports"],
            "bytes_in": sum(p.counters.bytes_in for p in per),
            "bytes_out": sum(p.counters.bytes_out for p in per),
            "wire_bytes_in": sum(c.stats.bytes_in for c in self.transport.connections.values()),
            "wire_bytes_out": sum(c.stats.bytes_out for c in self.transport.connections.values()),
            "results": len(self.results), "counters": dict(self.counters),
            "dropped_datagrams": sum(self.transport.dropped.values()),
        }

    def client_stats(self) -> list[dict]:
        return [{"client_id": p.client_id, "match": p.match.id, "slot": p.slot, "name": p.name,
                 "connected": p.connected, **attrs.asdict(p.counters)} for p in self.everyone]
