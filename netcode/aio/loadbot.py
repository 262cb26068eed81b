"""Light lockstep load bots: the wire traffic of a non-simulating LockstepClient at a fraction of its CPU.

A thousand bots in one CPython process must each cost only a few microseconds per frame, or the bots
process — not the server under test — is what falls behind. A LoadBot keeps the real transport
(ClientProtocol: the same handshake, packet headers, acks, keep-alives and reliable channel) and the real
lockstep messages (an INPUT that acknowledges the bundles and repeats every unacknowledged input, sent when
it "plays" a frame on the client's own playout schedule — earliest-arrival origin plus the adaptive jitter
buffer — and a REQUEST when frames are missing), so the server does exactly the work a real client costs it.
What it leaves out is client-side only: it does not decode bundles (it reads the FRAMES header for the frame
numbers and the server's input ack) and keeps no World, and it has no timer of its own: one LoadSwarm timer
walks every bot a few hundred times a second and services the few that are due (handshake retries,
keep-alives, resends, inputs whose playout time came).
"""
from __future__ import annotations

import asyncio
import math
import time
from collections import deque

import msgpack

from ..bots import brain_or_idle
from ..game import GameNotFound, resolve
from ..lockstep import messages as m
from ..lockstep.client import ClientCounters
from ..protocol import Channel, MessageReceived
from ..protocol.transports import client_transport
from ..protocol.events import ConnectFailed, Connected, Disconnected, LocalProtocolError
from ..wire.accept import other_mode
from ..wire.errors import WireError
from .driver import CallbackProtocol

_SLACK = 0.002
_FRAMES_HDR = m._FRAMES_HDR
_FRAMES = m.FRAMES
_UNRELIABLE = Channel.UNRELIABLE


class LoadBot:
    """One load bot (see the module docstring). ``simulate`` is always False."""

    simulate = False

    def __init__(self, index: int, server: tuple[str, int], seed: int, name: str | None = None,
                 behaviour: str | None = None, connect_token=None):
        self.index = index
        self.seed = seed * 1000 + index
        self.behaviour = behaviour
        self.error: str | None = None  # the behaviour is not one of the game's (the bot stands idle)
        self.game = None  # the server's game, once its WELCOME named it
        self.brain = None  # the game's bot, blind (it keeps no world)
        self.codec: m.FrameCodec | None = None
        self.transport = client_transport(server, None, msgpack.packb({"name": name or f"bot{index}"}), None,
                                          connect_token)
        self.server = server
        self.counters = ClientCounters()
        self.proto: CallbackProtocol | None = None
        self.lost: str | None = None
        self.welcome: dict | None = None
        self.ended = False
        self.frame = 0  # last frame "played" (at its playout time, as LockstepClient plays it)
        self.have = 0  # every frame up to this one has arrived
        self.newest = 0
        self.delay = 2
        self.interval = 1 / 15
        self.due = 0.0  # when the swarm's timer should service this bot
        self._pending: deque = deque()  # (frame, packed input record) not yet acknowledged, in frame order
        self._input_ack = 0
        self._stash: set[int] = set()  # frames that arrived beyond a gap
        self._sent_ack = -1
        self._last_send = -math.inf
        self._last_request = -math.inf
        self._arrivals: deque = deque(maxlen=64)
        self._origin = math.inf
        self._jb = 0.0
        self._sendto = None

    @property
    def connected(self) -> bool:
        return self.transport.connected

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        tr, self.proto = await loop.create_datagram_endpoint(lambda: CallbackProtocol(self.on_datagram),
                                                             local_addr=("127.0.0.1", 0))
        self._sendto = tr.sendto
        now = time.monotonic()
        self.transport.connect(now)
        self.tick(now)

    # ------------------------------------------------------------------ per datagram

    def on_datagram(self, data: bytes, addr) -> None:
        now = time.monotonic()
        t = self.transport
        t.receive_datagram(data, addr, now)
        if t._events:
            self._on_events(t.events(), now)
        if not t.connected or self.welcome is None:
            self._flush(now)  # the handshake answers at once
            self._arm(now)
        elif self._last_send != now and self.due > now + 0.005:
            self.due = now + 0.005  # nothing went out: an ack may be due (ack_delay)

    def _on_events(self, events: list, now: float) -> None:
        advanced = False
        c = self.counters
        for e in events:
            if type(e) is MessageReceived:
                data = e.data
                c.messages_in += 1
                c.bytes_in += len(data)
                if data and data[0] == _FRAMES and len(data) >= 6:
                    if self.welcome is None:
                        c.frames_before_welcome += 1
                    elif self._on_frames(data, now):
                        advanced = True
                else:
                    self._on_other(e.channel, data, now)
            elif isinstance(e, Connected):
                wrong = other_mode(self.transport.accept_payload, "lockstep")
                if wrong is not None:
                    self.lost = wrong
                    self.transport.disconnect()
            elif isinstance(e, (Disconnected, ConnectFailed)) and self.lost is None:
                self.lost = str(e.reason)
        if advanced:
            self._update(now)
            self._flush(now)
            self._arm(now)

    def _on_frames(self, data: bytes, now: float) -> bool:
        """The FRAMES header only: (input ack, first frame, count); True when new frames completed."""
        _, ack_lo, first_lo, n = _FRAMES_HDR.unpack_from(data)
        have = self.have
        first = m.unwrap(first_lo, have + 1)
        ack = m.unwrap(ack_lo, have)
        if ack > self._input_ack:
            self._input_ack = ack
        last = first + n - 1
        if last > self.newest:
            self.newest = last
            arrivals = self._arrivals
            arrivals.append(now - last * self.interval)
            self._origin = min(arrivals)
            if len(arrivals) >= 4:  # LockstepClient's adaptive jitter buffer
                self._jb = min(0.1, 2 * (sum(arrivals) / len(arrivals) - self._origin))
        c = self.counters
        if last <= have:
            c.duplicate_bundles += n
            return False
        if first > have + 1:  # a gap: keep what came, ask for the rest
            self._stash.update(range(first, last + 1))
            c.stashed += n
            self._request(now, gap=True)
            return False
        c.duplicate_bundles += have + 1 - first
        top = last
        stash = self._stash
        if stash:
            while top + 1 in stash:
                top += 1
            self._stash = {f for f in stash if f > top}
        c.bundles += top - have
        self.have = top
        return True

    def _update(self, now: float) -> None:
        """LockstepClient.update after its events: play what is due, ask for what is missing, send inputs."""
        iv = self.interval
        if self.have > self.frame:
            self._play(now)
        self._request(now)
        if (self._sent_ack != self.have and now - self._last_send >= iv / 2 - _SLACK) or \
                now - self._last_send >= 1.5 * iv - _SLACK:
            self._send_inputs(now)

    def _play(self, now: float) -> None:
        frame, have = self.frame, self.have
        if self._origin == math.inf:  # frames from a catch-up, before any live one: no schedule yet
            stop = have
        else:
            target = math.floor((now + _SLACK - self._origin - self._jb) / self.interval)
            stop = have if target - frame > 8 else min(have, target)  # far behind: catch up at once
        if stop <= frame:
            return
        delay, newest, blind, pending = self.delay, self.newest, self.brain.blind, self._pending
        for f in range(frame + 1, stop + 1):
            if f + delay > newest:
                pending.append((f + delay, blind()))
        self.counters.frames += stop - frame
        self.frame = stop
        self._send_inputs(now)

    def _on_other(self, channel: int, data: bytes, now: float) -> None:
        c = self.counters
        try:
            kind = m.message_type(data)
            if kind == m.WELCOME and channel == Channel.RELIABLE:
                self._on_welcome(m.decode_map(data, m.WELCOME), now)
            elif kind == m.END and channel == Channel.RELIABLE:
                self.ended = True
            elif kind in (m.SYNC, m.FRAMES):
                pass
            else:
                c.unknown_messages += 1
        except WireError:
            c.bad_messages += 1

    def _on_welcome(self, w: dict, now: float) -> None:
        try:
            frame, live = int(w["frame"]), int(w["live_frame"])
            rate, delay = int(w["frame_rate"]), int(w["input_delay"])
        except (KeyError, TypeError, ValueError) as e:
            raise WireError(f"bad WELCOME: {e}") from None
        try:
            game, _ = resolve(w, expected=self.game)
        except (GameNotFound, ValueError) as e:
            self.lost = str(e)
            self.transport.disconnect()
            return
        self.game = game
        if self.brain is None:
            self.brain, self.error = brain_or_idle(game, self.seed, self.behaviour)
            self.codec = m.FrameCodec(game.inputs)
        if self.welcome is not None:
            self.counters.resyncs += 1
        self.welcome = w
        self.delay, self.interval = delay, 1.0 / rate
        self.frame = self.have = frame
        self.newest = max(frame, live)
        self._jb = 0.0
        self._input_ack = live
        self._pending.clear()
        self._stash.clear()
        self._arrivals.clear()
        self._origin = math.inf
        for f in range(live + 1, live + 1 + delay):
            self._pending.append((f, self.brain.blind()))
        self._send_inputs(now)
        self._flush(now)
        self._arm(now)

    # ------------------------------------------------------------------ sending

    def _send(self, data: bytes) -> None:
        try:
            self.transport.send(_UNRELIABLE, data)
        except LocalProtocolError:
            return
        c = self.counters
        c.messages_out += 1
        c.bytes_out += len(data)

    def _send_inputs(self, now: float) -> None:
        pending, ack = self._pending, self._input_ack
        while pending and pending[0][0] <= ack:
            pending.popleft()
        have = self.have
        k = len(pending)
        if k > m.MAX_INPUTS:
            k = m.MAX_INPUTS
        run = [pending[i] for i in range(len(pending) - k, len(pending))]
        if run and (run[0][0] <= have or run[-1][0] > have + 255):  # out of INPUT's reach (as the client): ack only
            run = []
        first = run[0][0] if run else have + 1
        self._send(self.codec.encode_input(have, first, [e for _, e in run]))
        self.counters.inputs_sent += len(run)
        self._sent_ack = have
        self._last_send = now

    def _request(self, now: float, gap: bool = False) -> None:
        if self._origin == math.inf or self.ended:
            return
        # LockstepClient._maybe_request's tests, the cheapest first (the same outcome): nothing beyond `have`
        # arrived and the next frame is not overdue — the common case, once per frame
        if not gap and not self._stash and now - self._play_time(self.have + 1) < self.interval - _SLACK:
            return
        expected = math.floor((now - self._origin) / self.interval)
        newest = max(self.newest, expected)
        if newest <= self.have:
            return
        if now - self._last_request < self._request_timeout() - _SLACK:
            return
        self._last_request = now
        self.counters.requests += 1
        self._send(m.encode_request(self.have + 1, min(newest - self.have, 4096)))
        self._flush(now)

    def _flush(self, now: float) -> None:
        out = self.transport.datagrams_to_send(now)
        if out:
            sendto = self._sendto
            for data, addr in out:
                try:
                    sendto(data, addr)
                except OSError:
                    self.proto.errors += 1

    # ------------------------------------------------------------------ timer (driven by the swarm)

    def _play_time(self, f: int) -> float:
        return self._origin + f * self.interval + self._jb

    def _arm(self, now: float) -> None:
        """When tick() is next due: LockstepClient.get_timer without the per-bot event-loop timer."""
        t = self.transport.get_timer()
        if self.welcome is not None and self.transport.connected and not self.ended:
            iv = self.interval
            nxt = self._last_send + (1.5 * iv if self._sent_ack == self.have else iv / 2)
            if self._origin != math.inf:
                if self.have > self.frame:
                    nxt = min(nxt, self._play_time(self.frame + 1))
                nxt = min(nxt, max(self._last_request + self._request_timeout(), self._play_time(self.have + 1) + iv))
            nxt -= 0.001
            t = nxt if t is None else min(t, nxt)
        self.due = math.inf if t is None else t

    def _request_timeout(self) -> float:
        conn = self.transport.connection
        return max(0.02, conn.stats.rtt + 4 * conn.stats.jitter + 0.01) if conn is not None else 0.1

    def tick(self, now: float) -> None:
        t = self.transport
        t.update(now)
        if t._events:
            self._on_events(t.events(), now)
        if self.welcome is not None and t.connected and not self.ended:
            self._update(now)
        self._flush(now)
        self._arm(now)

    def close(self) -> None:
        self.transport.disconnect()
        self._flush(time.monotonic())
        self.proto.transport.close()

    def report(self) -> dict:
        c = self.transport
        conn = c.connection
        st = conn.stats if conn is not None else None
        return {"bot": self.index, "simulate": False, "light": True, "connected": self.lost is None and c.connected,
                "lost": self.lost, "match": (self.welcome or {}).get("match"), "frame": self.frame,
                "synced": None, "checksums": 0, "max_stall_ms": 0.0,
                "rtt_ms": st.rtt * 1000 if st else None, "bytes_in": self.counters.bytes_in,
                "bytes_out": self.counters.bytes_out, "wire_bytes_in": st.bytes_in if st else 0,
                "wire_bytes_out": st.bytes_out if st else 0, "requests": self.counters.requests,
                "ended": self.ended}


class LoadSwarm:
    """One timer for many LoadBots: every ``period`` seconds, service the bots whose timer is due."""

    def __init__(self, bots: list[LoadBot], period: float = 0.004):
        self.bots = bots
        self.period = period
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        bots, clock = self.bots, time.monotonic
        while True:
            await asyncio.sleep(self.period)
            now = clock()
            for b in bots:
                if b.due <= now:
                    b.tick(now)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
