"""A state-sync client, sans-IO: connect, send redundant inputs on the server's clock, decode snapshots.

Bots use it headless; the pygame client adds prediction, reconciliation and interpolation on top.
"""
from __future__ import annotations

from collections import deque

import attrs
import msgpack
import numpy as np

from ..protocol import (Channel, ClientProtocol, ConnectFailed, Connected, Disconnected, LocalProtocolError,
                        MessageReceived, TransportConfig)
from ..sim import PlayerInput
from ..wire.errors import WireError
from ..wire.snapshot import decode_snapshot
from . import messages as msg
from .events import ConnectionLost, GameEvents, Scoreboard, ShotResult, SnapshotReceived, Welcome
from .inputs import ClockSync

_KEEP_TABLES = 64


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
    stale_snapshots: int = 0
    missing_baseline: int = 0
    bad_messages: int = 0
    inputs_sent: int = 0
    input_messages: int = 0


class StateSyncClient:
    """One player's connection to a state-sync server."""

    def __init__(self, server_addr, name: str = "player", token: int | None = None,
                 transport_config: TransportConfig | None = None, nonce: int | None = None,
                 max_redundancy: int = 8, decode_every: int = 1):
        payload = {"name": name[:24]}
        if token is not None:
            payload["token"] = token
        self.transport = ClientProtocol(server_addr, config=transport_config, payload=msgpack.packb(payload),
                                        nonce=nonce)
        self.name = name
        self.max_redundancy = max_redundancy
        # A load-testing client may decode only every n-th snapshot: it acks only those it decoded,
        # so the server keeps sending deltas it can decode (against an older baseline).
        self.decode_every = max(1, decode_every)
        self.welcome: Welcome | None = None
        self.clock: ClockSync | None = None
        self.next_input = PlayerInput()  # the application sets this; it is sampled once per input tick
        self.view = (msg.NO_TICK, 0)  # (snapshot tick, fraction) the player sees, for shots
        self.tables: dict[int, object] = {}
        self.latest_tick = -1
        self.latest = None
        self.input_ack = -1  # newest input tick the server applied
        self.counters = ClientCounters()
        self.lost_reason: str | None = None
        self.sent_inputs: deque[msg.TickInput] = deque(maxlen=256)  # for prediction replay
        self._events: list = []

    # ------------------------------------------------------------------ application side

    def connect(self, now: float) -> None:
        self.transport.connect(now)

    @property
    def connected(self) -> bool:
        return self.transport.connected and self.welcome is not None

    def events(self) -> list:
        ev, self._events = self._events, []
        return ev

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
                self._lost(f"disconnected: {e.reason}")
            elif isinstance(e, ConnectFailed):
                self._lost(f"could not connect: {e.reason}")
            elif isinstance(e, Connected):
                pass  # WELCOME follows on the reliable channel

    def _lost(self, reason: str) -> None:
        self.lost_reason = reason
        self._events.append(ConnectionLost(reason))

    def _on_message(self, channel: int, data: bytes, now: float) -> None:
        kind = msg.message_type(data)
        if kind == msg.SNAPSHOT:
            self._on_snapshot(data, now)
        elif kind == msg.WELCOME:
            w = msg.decode_packed(data)
            try:
                self.welcome = Welcome(int(w["client_id"]), int(w["slot"]), int(w["token"]), int(w["tick"]),
                                       int(w["tick_rate"]), int(w["snapshot_every"]), int(w["view_radius"]),
                                       dict(w["sim"]))
            except (KeyError, TypeError, ValueError):
                raise WireError("bad welcome") from None
            self.clock = ClockSync(self.welcome.tick_rate)
            self._events.append(self.welcome)
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

    def _on_snapshot(self, data: bytes, now: float) -> None:
        self.counters.arrived += 1
        if self.decode_every > 1 and self.counters.arrived % self.decode_every:
            return
        input_tick, margin, body = msg.decode_snapshot_message(data)
        try:
            tick, _, table = decode_snapshot(body, self.tables.get)
        except WireError as e:
            if "baseline" in str(e):
                self.counters.missing_baseline += 1
                return
            raise
        if tick <= self.latest_tick:
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
        self._events.append(SnapshotReceived(tick, table, entered, left, input_tick, len(data)))

    # ------------------------------------------------------------------ time

    # Also a sans-IO endpoint, pumped like a ClientProtocol.

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        self.transport.receive_datagram(data, addr, now)

    def datagrams_to_send(self, now: float) -> list:
        return self.transport.datagrams_to_send(now)

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
        for t in ticks:
            view_tick, view_frac = self.view
            self.sent_inputs.append(msg.TickInput(t, self.next_input, view_tick, view_frac))
        unacked = [ti for ti in self.sent_inputs if ti.tick > self.input_ack][-self.max_redundancy:]
        # the INPUT message needs consecutive ticks: keep the newest contiguous run
        while len(unacked) > 1 and unacked[0].tick != unacked[-1].tick - len(unacked) + 1:
            unacked.pop(0)
        try:
            self.transport.send(Channel.UNRELIABLE, msg.encode_inputs(self.latest_tick if self.latest_tick >= 0
                                                                      else msg.NO_TICK, unacked))
            self.counters.inputs_sent += len(ticks)
            self.counters.input_messages += 1
        except LocalProtocolError:
            pass
        return ticks
