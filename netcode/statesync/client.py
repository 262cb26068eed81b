"""A state-sync client, sans-IO: connect, send redundant inputs on the server's clock, decode snapshots.

The server's WELCOME names its game (netcode.game); the client loads it (or says in one line that it
can't) and speaks its input record. Bots use it headless; the pygame client adds prediction,
reconciliation and interpolation on top.
"""
from __future__ import annotations

from collections import deque

import attrs
import msgpack
import numpy as np

from ..game import GameNotFound, LagCompensated, resolve
from ..protocol import (Channel, ConnectFailed, Connected, Disconnected, LocalProtocolError,
                        MessageReceived, TransportConfig)
from ..protocol.endpoint import TransportEndpoint
from ..protocol.transports import client_transport
from ..wire.accept import other_mode
from ..wire.errors import WireError
from ..wire.snapshot import MissingBaseline, decode_snapshot
from . import messages as msg
from .events import ConnectionLost, GameEvents, LateSnapshot, Scoreboard, ShotResult, SnapshotReceived, Welcome
from .inputs import ClockSync

_KEEP_TABLES = 64  # decoded tables kept as baselines: at least the server's snapshot_ring (docs/SNAPSHOT.md)


def _not_in(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elements of sorted a that are not in sorted b (cheaper than setdiff1d: no sort)."""
    if len(b) == 0 or len(a) == 0:
        return a.copy()
    pos = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return a[b[pos] != a]


@attrs.define
class ClientCounters:
    """What this client received and dropped."""

    snapshots: int = 0  # decoded
    arrived: int = 0  # including those a load-testing client skipped
    snapshot_bytes: int = 0
    stale_snapshots: int = 0  # duplicates
    late_snapshots: int = 0  # older than the newest held (overtaken on the way): handed on as LateSnapshot
    held_entities: int = 0  # entity rows that a SNAPSHOT_HELD said were not updated (budget-deferred)
    missing_baseline: int = 0
    bad_messages: int = 0
    inputs_sent: int = 0
    input_messages: int = 0
    before_welcome: int = 0  # snapshots that came before the WELCOME (dropped: we don't know the game yet)
    invalid_inputs: int = 0  # records our own code gave that the game's schema refuses: sent as "no input"


class StateSyncClient(TransportEndpoint):
    """One player's connection to a state-sync server. ``game``: the game we expect (used when the server
    names the same one; otherwise the client loads whatever the server announces)."""

    def __init__(self, server_addr, name: str = "player", token: int | None = None,
                 transport_config: TransportConfig | None = None, nonce: int | None = None,
                 max_redundancy: int = 8, decode_every: int = 1, game=None, connect_token=None):
        payload = {"name": name[:24]}
        if token is not None:
            payload["token"] = token
        # with a connect token (netcode.security), the secure transport to the servers it names
        self.transport = client_transport(server_addr, transport_config, msgpack.packb(payload), nonce, connect_token)
        self.name = name
        self.max_redundancy = max_redundancy
        # A load-testing client may decode only every n-th snapshot: it acks only those it decoded,
        # so the server keeps sending deltas it can decode (against an older baseline).
        self.decode_every = max(1, decode_every)
        self.expected_game = game
        self.welcome: Welcome | None = None
        self.game = None  # the server's game, once welcomed
        self.codec: msg.InputCodec | None = None
        self.clock: ClockSync | None = None
        self.next_input = 0  # the application sets this (a packed input record); it is sampled once per input tick
        self.view = (msg.NO_TICK, 0)  # (snapshot tick, fraction) the player sees, for shots
        self.tables: dict[int, object] = {}
        self.latest_tick = -1
        self.latest = None
        self.input_ack = -1  # newest input tick the server applied
        self.counters = ClientCounters()
        self.lost_reason: str | None = None
        self._refused: str | None = None  # why we left at WELCOME (the disconnect that follows says no more)
        self.sent_inputs: deque[msg.TickInput] = deque(maxlen=256)  # for prediction replay
        self._events: list = []

    # ------------------------------------------------------------------ application side

    def connect(self, now: float) -> None:
        self._refused = None
        self.transport.connect(now)

    @property
    def connected(self) -> bool:
        return self.transport.connected and self.welcome is not None


    def send_chat(self, text: str) -> None:
        self.transport.send(Channel.RELIABLE, msg.encode_chat(text))

    def disconnect(self) -> None:
        self.transport.disconnect()

    # ------------------------------------------------------------------ network input

    def on_events(self, events: list, now: float) -> None:
        for e in events:
            if type(e) is MessageReceived:
                try:
                    self._on_message(e.channel, e.data, now)
                except WireError:
                    self.counters.bad_messages += 1
            elif isinstance(e, Disconnected):
                if self._refused is None:
                    self._lost(f"disconnected: {e.reason}", e.reason)
            elif isinstance(e, ConnectFailed):
                self._lost(f"could not connect: {e.reason}", e.reason)
            elif isinstance(e, Connected):
                wrong = other_mode(self.transport.accept_payload, "state")
                if wrong is not None:  # a lockstep server: its messages would read as garbage here
                    self._refused = wrong
                    self.transport.disconnect()
                    self._lost(wrong)
                # otherwise the WELCOME follows on the reliable channel

    def _lost(self, reason: str, code=None) -> None:
        self.lost_reason = reason
        self._events.append(ConnectionLost(reason, code))

    def _on_message(self, channel: int, data: bytes, now: float) -> None:
        kind = msg.message_type(data)
        if kind == msg.SNAPSHOT or kind == msg.SNAPSHOT_HELD:
            self._on_snapshot(data, now)
        elif kind == msg.WELCOME:
            self._on_welcome(msg.decode_packed(data))
        elif kind == msg.EVENTS:
            body = msg.decode_packed(data)
            if not isinstance(body, list):
                raise WireError("bad events")
            self._events.append(GameEvents(body))
        elif kind == msg.SHOT_RESULT:
            body = msg.decode_packed(data)
            try:
                tick, target, rewind_ms, status = body
                self._events.append(ShotResult(int(tick), int(target), float(rewind_ms), str(status)))
            except (TypeError, ValueError):
                raise WireError("bad shot result") from None
        elif kind == msg.SCOREBOARD:
            body = msg.decode_packed(data)
            if not isinstance(body, list):
                raise WireError("bad scoreboard")
            self._events.append(Scoreboard(body))
        else:
            self.counters.bad_messages += 1

    def _on_welcome(self, w) -> None:
        if not isinstance(w, dict):
            raise WireError("bad welcome")
        try:
            game, config = resolve(w, expected=self.expected_game)
        except (GameNotFound, ValueError) as e:
            if self.welcome is not None and not isinstance(e, GameNotFound):
                raise WireError("bad welcome") from None  # a garbled repeat: we keep the session we have
            # a game we can't play, or a first WELCOME we can't read: say so and leave (waiting would hang)
            self._refused = str(e)
            self.transport.disconnect()
            self._lost(str(e))
            return
        try:
            welcome = Welcome(int(w["client_id"]), int(w["slot"]), int(w["token"]), int(w["tick"]),
                              int(w["tick_rate"]), int(w["snapshot_every"]), int(w["view_radius"]), game, config,
                              str(w["game"]), tuple(str(c) for c in w.get("score_columns") or ()))
        except (KeyError, TypeError, ValueError):
            raise WireError("bad welcome") from None
        self.welcome, self.game = welcome, game
        self.codec = msg.InputCodec(game.inputs, game.action_field if isinstance(game, LagCompensated) else None)
        self.clock = ClockSync(welcome.tick_rate)
        self._events.append(welcome)

    def _on_snapshot(self, data: bytes, now: float) -> None:
        self.counters.arrived += 1
        if self.game is None:  # the WELCOME (reliable) names the game and its columns: nothing to read it with
            self.counters.before_welcome += 1
            return
        if self.decode_every > 1 and self.counters.arrived % self.decode_every:
            return
        input_tick, margin, body, held_bits = msg.decode_snapshot_message(data)
        try:
            tick, _, table = decode_snapshot(body, self.tables.get)
        except WireError as e:
            if isinstance(e, MissingBaseline):
                self.counters.missing_baseline += 1
                return
            raise
        if table.values.shape[1] != self.game.entities.n_fields:
            raise WireError(f"snapshot of {table.values.shape[1]} fields, {self.game.name} has "
                            f"{self.game.entities.n_fields}")
        held = None
        if held_bits is not None:
            if len(held_bits) != (len(table) + 7) // 8:
                raise WireError("held mask does not match the snapshot's rows")
            held = np.unpackbits(np.frombuffer(held_bits, np.uint8), count=len(table), bitorder="little").astype(bool)
            self.counters.held_entities += int(held.sum())
        if tick <= self.latest_tick:
            if tick < self.latest_tick and tick not in self.tables:
                self.counters.late_snapshots += 1  # overtaken: still a picture of its tick for interpolation
                self._events.append(LateSnapshot(tick, table, len(data), held))
            else:
                self.counters.stale_snapshots += 1
            return
        prev = self.latest
        self.tables[tick] = table
        if len(self.tables) > _KEEP_TABLES:
            for old in sorted(self.tables)[:-_KEEP_TABLES]:
                del self.tables[old]
        if prev is None:
            entered, left = table.ids.copy(), np.empty(0, np.uint32)
        else:
            entered, left = _not_in(table.ids, prev.ids), _not_in(prev.ids, table.ids)
        self.latest, self.latest_tick = table, tick
        if input_tick != msg.NO_TICK:
            self.input_ack = max(self.input_ack, input_tick)
        self.counters.snapshots += 1
        self.counters.snapshot_bytes += len(data)
        conn = self.transport.connection
        # the input clock starts from server tick + RTT: wait for a measured RTT rather than guess
        if self.clock is not None and conn is not None and (self.clock.synced or conn.stats.rtt_samples):
            self.clock.on_snapshot(tick, margin, conn.stats.rtt, now, self.input_ack)
        self._events.append(SnapshotReceived(tick, table, entered, left, input_tick, len(data), held))

    # ------------------------------------------------------------------ time

    # A sans-IO endpoint (netcode.protocol.endpoint): datagrams go through the transport.

    def get_timer(self) -> float | None:
        t = self.transport.get_timer()
        if self.clock is not None and self.clock.synced and self.connected:
            nxt = self.clock.next_tick_time(now=None)
            t = nxt if t is None else min(t, nxt)
        return t

    def update(self, now: float) -> list[int]:
        """Transport timers, network events, then inputs for every input tick now due (returned)."""
        self.transport.update(now)
        self.on_events(self.transport.events(), now)
        return self.send_inputs(now)

    def send_inputs(self, now: float) -> list[int]:
        """Produce and send inputs for every input tick now due; returns those ticks."""
        if not self.connected or self.clock is None:
            return []
        ticks = self.clock.due_ticks(now)
        if not ticks:
            return ticks
        inp = self.next_input
        if type(inp) is not int or not self.game.inputs.valid(inp):  # the server would drop the whole message
            try:
                inp = int(inp)
            except (TypeError, ValueError):
                inp = -1
            if not self.game.inputs.valid(inp):
                self.counters.invalid_inputs += 1
                inp = 0
        view_tick, view_frac = self.view
        for t in ticks:
            self.sent_inputs.append(msg.TickInput(t, inp, view_tick, view_frac))
        unacked = [ti for ti in self.sent_inputs if ti.tick > self.input_ack][-self.max_redundancy:]
        # the INPUT message needs consecutive ticks: keep the newest contiguous run
        while len(unacked) > 1 and unacked[0].tick != unacked[-1].tick - len(unacked) + 1:
            unacked.pop(0)
        try:
            self.transport.send(Channel.UNRELIABLE, self.codec.encode(self.latest_tick if self.latest_tick >= 0
                                                                      else msg.NO_TICK, unacked))
            self.counters.inputs_sent += len(ticks)
            self.counters.input_messages += 1
        except LocalProtocolError:
            pass
        return ticks
