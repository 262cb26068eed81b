"""The lockstep client, sans-IO: decodes bundles in frame order, sends each input ``input_delay`` frames ahead
with every unacknowledged one repeated, asks for frames it is missing, and reports checksums. Two ways to play:

* classic (``rollback=0``): steps its world only on complete frames, behind a small playout/jitter buffer: a
  press shows after the input delay plus the round trip;
* rollback (``rollback=N``): steps its world ahead of the frames it has, on predicted inputs, far enough ahead
  that its inputs reach the server in time (netcode.lockstep.pacing), and re-simulates when a frame's real
  inputs differ (netcode.lockstep.rollback): a press shows after the input delay alone (0-1 frames).

Either way it follows the server's ADVICE: the input delay the server recommends for its link, and (rollback)
how early its inputs arrive, which sets its lead.

The server's WELCOME names its game (netcode.game); the client loads it, or says in one line that it can't.
"""
from __future__ import annotations

import math
from collections import deque

import attrs
import msgpack

from ..game import GameNotFound, resolve
from ..protocol import (Channel, ConnectFailed, Connected, Disconnected, MessageReceived,
                        TransportConfig)
from ..protocol.endpoint import TransportEndpoint
from ..protocol.transports import client_transport
from ..protocol.events import LocalProtocolError
from ..wire.accept import other_mode
from ..wire.errors import WireError
from . import messages as m
from .events import ConnectionLost, MatchOver, Synced, Welcomed
from .frames import apply_frame
from .pacing import SLACK_WINDOW, Lead, delay_for, margin
from .rollback import Rollback

# Event-loop timers are ms-grained and may fire a little early: a timer asks to be woken _EARLY before its
# deadline and anything due within _SLACK counts as due, so a wake-up never finds "not yet" and spins.
_EARLY = 0.001
_SLACK = 0.002


@attrs.frozen(kw_only=True)
class ClientConfig:
    """How a lockstep client plays."""

    simulate: bool = True  # False: a load bot that relays inputs and acks frames without stepping a World
    # seconds a frame is held behind the earliest arrival of the recent window; None = adaptive: twice the mean
    # lateness of recent arrivals behind the earliest (≈ 0 on a LAN, tens of ms on a jittery link), at most 100 ms
    jitter_buffer: float | None = None
    report_checksums: bool = True
    catchup_frames: int = 8  # further behind the schedule than this: fast-forward without pacing
    max_frames_per_update: int = 2000
    rollback: int = 0  # frames of prediction and rollback (0: classic, play complete frames only)
    adaptive_delay: bool = True  # follow the input delay the server's ADVICE recommends


@attrs.define
class ClientCounters:
    frames: int = 0  # simulated
    bundles: int = 0  # decoded
    duplicate_bundles: int = 0
    stashed: int = 0  # bundles that arrived before the frame they are a delta of
    requests: int = 0
    inputs_sent: int = 0
    messages_out: int = 0
    bytes_out: int = 0
    messages_in: int = 0
    bytes_in: int = 0
    bad_messages: int = 0
    unknown_messages: int = 0
    frames_before_welcome: int = 0
    checksums_sent: int = 0
    resyncs: int = 0
    invalid_inputs: int = 0  # records our own brain gave that the schema refuses: sent as "no input"
    inputs_filled: int = 0  # frames whose bundle says the server filled our input (it arrived too late)
    inputs_carried: int = 0  # frames whose bundle says they carry an input of ours that missed its own frame
    advices: int = 0
    delay_changes: int = 0


class LockstepClient(TransportEndpoint):
    """One player: a ClientProtocol plus the lockstep frame pipeline. ``brain(client)`` (or
    ``next_input``) gives the input (a packed record of the game's schema) to send each frame.
    ``game``: the game we expect (used when the server names the same one; otherwise the client loads
    whatever the server announces)."""

    def __init__(self, server_addr, name: str = "player", token: int | None = None,
                 config: ClientConfig | None = None, transport_config: TransportConfig | None = None,
                 nonce: int | None = None, brain=None, game=None, connect_token=None):
        self.config = config or ClientConfig()
        info = {"name": name}
        if token is not None:
            info["token"] = token
        self.transport = client_transport(server_addr, transport_config, msgpack.packb(info), nonce, connect_token)
        self.brain = brain
        self.next_input = 0
        self.expected_game = game
        self.game = None  # the server's game, once welcomed
        self.codec: m.FrameCodec | None = None
        self.welcome: dict | None = None
        self.sim = None  # the game's config
        self.world = None
        self.slot = -1
        self.rate = 15
        self.delay = 2
        self.every = 15
        self.interval = 1 / 15
        self.frame = 0  # last simulated frame
        self.have = 0  # every frame up to this one is decoded
        self.newest = 0  # newest frame number the server has announced
        self.live_frame = 0
        self.handshake_pending = False
        self.synced: bool | None = None
        self.ended: dict | None = None
        self.counters = ClientCounters()
        self.checksums: dict[int, int] = {}  # frame -> our checksum, at checksum frames
        self.max_stall = 0.0  # longest a frame was played after its playout time (live play only)
        self.max_gap = 0.0  # longest time between two consecutive frame advances (live play only)
        self.on_frame = None  # called as on_frame(client, frame) after each simulated frame
        self.frame_events: list = []  # the game events of the frame just simulated (read them in on_frame)
        # on_confirmed(client, frame, events): a frame's events once they can no longer change (classic: when
        # stepped; rollback: when agreed); on_canceled(client, frame, events): rollback only, events frame_events
        # reported for a predicted frame that its re-simulation did not produce (Photon Quantum's confirmed and
        # canceled events). Frames without events are not reported.
        self.on_confirmed = None
        self.on_canceled = None
        self.frame_inputs: bytes = b""  # the records by slot of the frame just simulated
        self.names: dict[int, str] = {}  # match slot -> player name (WELCOME and ROSTER)
        self.input_frame = 0  # the frame of the input being sampled (brains may read it)
        self._decoded: dict[int, tuple] = {}  # frame -> (records, join, leave), frames in (frame, have]
        self._raw: dict[int, bytes] = {}  # frame -> undecoded bundle, frames > have + 1
        self._base = b""  # records of frame `have` (delta base)
        self._players = 0
        self._pending: dict[int, int] = {}  # frame -> packed input not yet acknowledged
        self._input_ack = 0
        self._sent_ack = -1
        self._last_send = -math.inf
        self._last_request = -math.inf
        self._arrivals: deque = deque(maxlen=64)  # (now - frame * interval) samples
        self._origin = math.inf  # playout origin: frame f plays at origin + f * interval + jitter buffer
        self._jb = self.config.jitter_buffer or 0.0
        self._last_advance: float | None = None
        self._events: list = []
        self.filled_frames: deque = deque(maxlen=64)  # the latest frames the server filled our input in
        self._refused = False  # we left at WELCOME, having said why (the disconnect that follows says no more)
        self.rb: Rollback | None = None  # rollback mode: the predicted world
        self.lead = Lead()  # rollback mode: seconds ahead of the received frames we simulate
        self.advice: tuple[int, int, int] | None = None  # the server's latest ADVICE (frames needed, slack ms, carried)
        self._next_input = 0  # the next frame we owe an input for
        self._input_made: dict[int, float] = {}  # frame -> when we made our input for it (until it is shown)
        self.input_latency: deque = deque(maxlen=4096)  # seconds from making an input to showing its frame

    # ------------------------------------------------------------------ endpoint

    @property
    def connected(self) -> bool:
        return self.transport.connected

    @property
    def jitter_buffer(self) -> float:
        """Seconds each frame is currently held behind the earliest arrival (the playout buffer)."""
        return self._jb

    def connect(self, now: float) -> None:
        self._refused = False
        self.transport.connect(now)

    def disconnect(self) -> None:
        self.transport.disconnect()

    def update(self, now: float) -> None:
        t = self.transport
        t.update(now)
        for e in t.events():
            if type(e) is MessageReceived:
                self._on_message(e.channel, e.data, now)
            elif isinstance(e, Connected):
                wrong = other_mode(t.accept_payload, "lockstep")
                if wrong is not None:  # a state-sync server: say so rather than wait for a WELCOME that won't come
                    self._refused = True
                    t.disconnect()
                    self._events.append(ConnectionLost(wrong))
            elif isinstance(e, (Disconnected, ConnectFailed)) and not self._refused:
                self._events.append(ConnectionLost(str(e.reason), e.reason))
        if self.welcome is None or not t.connected or self._finished():
            return
        self._play(now)
        self._maybe_request(now)
        if self._pending and min(self._pending) <= self._input_ack:
            self._pending = {f: v for f, v in self._pending.items() if f > self._input_ack}
        if (self._sent_ack != self.have and now - self._last_send >= self.interval / 2 - _SLACK) or \
                now - self._last_send >= 1.5 * self.interval - _SLACK:
            self._send_inputs(now)

    def _finished(self) -> bool:
        """The match ended and we played its last frame (END may overtake the last bundles)."""
        if self.ended is None:
            return False
        last = self.ended.get("frames")
        return not isinstance(last, int) or self.frame >= last

    def get_timer(self) -> float | None:
        t = self.transport.get_timer()
        if self.welcome is None or self._finished():
            return t
        nxt = self._last_send + (1.5 * self.interval if self._sent_ack == self.have else self.interval / 2)
        if self.rb is not None:
            if self._origin != math.inf:
                nxt = min(nxt, self._origin + (self.rb.frame + 1) * self.interval - self.lead.value)
        elif self.have > self.frame:
            nxt = min(nxt, self._play_time(self.frame + 1))
        if self._origin != math.inf:
            nxt = min(nxt, max(self._last_request + self._request_timeout(), self._play_time(self.have + 1) + self.interval))
        nxt -= _EARLY
        return nxt if t is None else min(t, nxt)

    # ------------------------------------------------------------------ messages

    def _send(self, data: bytes) -> None:
        channel = Channel.RELIABLE if data[0] == m.CHECKSUM else Channel.UNRELIABLE
        try:
            self.transport.send(channel, data)
        except LocalProtocolError:
            return
        self.counters.messages_out += 1
        self.counters.bytes_out += len(data)

    def _on_message(self, channel: int, data: bytes, now: float) -> None:
        c = self.counters
        c.messages_in += 1
        c.bytes_in += len(data)
        try:
            kind = m.message_type(data)
            if kind == m.FRAMES:
                if self.welcome is None:
                    c.frames_before_welcome += 1
                    return
                self._on_frames(*self.codec.split_frames(data), now)
            elif kind == m.WELCOME and channel == Channel.RELIABLE:
                self._on_welcome(m.decode_map(data, m.WELCOME), now)
            elif kind == m.SYNC and channel == Channel.RELIABLE:
                frame, ok = m.decode_sync(data)
                self.synced = ok
                self._events.append(Synced(frame, ok))
            elif kind == m.ROSTER and channel == Channel.RELIABLE:
                self._on_roster(m.decode_map(data, m.ROSTER))
            elif kind == m.ADVICE:
                self._on_advice(*m.decode_advice(data), now)
            elif kind == m.END and channel == Channel.RELIABLE:
                self.ended = m.decode_map(data, m.END)
                self._events.append(MatchOver(self.ended))
            else:
                c.unknown_messages += 1
        except WireError:
            c.bad_messages += 1

    def _on_advice(self, need: int, slack_ms: int, carried: int, now: float | None = None) -> None:
        """The server's timing advice: move the input delay one frame towards what the link needs (all of it
        without rollback; what the rollback window can't cover with it); a rollback client also moves its lead
        so that its inputs arrive just in time (pacing.Lead)."""
        self.advice = (need, slack_ms, carried)
        delay = delay_for(need, self.config.rollback if self.rb is not None else None)
        self.counters.advices += 1
        conn = self.transport.connection
        rtt, jitter = (conn.stats.rtt, conn.stats.jitter) if conn is not None else (0.0, 0.0)
        want = delay
        if self.rb is None:
            # classic: what the server can't see is our playout buffer, which makes every input later; the
            # slack shows it: too little and the delay grows, plenty and it may shrink to the recommendation
            slack, enough = slack_ms / 1000.0, margin(jitter)
            if slack < enough:
                want = self.delay + 1
            elif slack > enough + self.interval:
                want = max(delay, self.delay - 1)
            else:
                want = self.delay
        if self.config.adaptive_delay and want != self.delay and self.welcome is not None:
            step = 1 if want > self.delay else -1
            self.delay += step
            self.counters.delay_changes += 1
            self.lead.target = max(0.0, self.lead.target - step * self.interval)  # the delay covers that now
        if self.rb is not None and now is not None:
            # the server's slack covers its last SLACK_WINDOW inputs: on average half that window ago, plus the
            # one-way trip
            self.lead.advise(slack_ms / 1000.0, jitter, rtt / 2 + SLACK_WINDOW / 2 * self.interval, now)

    def _on_roster(self, names) -> None:
        """slot -> name of the match's players (the WELCOME's, then a ROSTER on every join); off the wire,
        so only well-typed entries for real slots are kept."""
        if not isinstance(names, dict) or self.welcome is None:
            raise WireError("bad roster")
        n = int(self.welcome["players"])
        for slot, name in names.items():
            if isinstance(slot, int) and 0 <= slot < n and isinstance(name, str):
                self.names[slot] = name[:24]

    def _on_welcome(self, w: dict, now: float) -> None:
        try:
            game, sim = resolve(w, expected=self.expected_game)
        except (GameNotFound, ValueError) as e:
            if self.welcome is not None and not isinstance(e, GameNotFound):
                raise WireError(f"bad WELCOME: {e}") from None  # a garbled resync: we keep the match we have
            # a game we can't play, or a first WELCOME we can't read: say so and leave (waiting would hang)
            self._refused = True
            self.transport.disconnect()
            self._events.append(ConnectionLost(str(e)))
            return
        try:
            frame, live = int(w["frame"]), int(w["live_frame"])
            rate, delay, every = int(w["frame_rate"]), int(w["input_delay"]), int(w["checksum_every"])
            slot, n = int(w["slot"]), int(w["players"])
            data, base = w["world"], w["base"]
            if not isinstance(data, bytes) or not isinstance(base, bytes):  # bytes(int) would allocate that many
                raise ValueError("world and base must be bytes")
            world = game.world_from_bytes(sim, data) if self.config.simulate else None
            if not (1 <= rate <= 1000 and 0 <= delay <= 1000 and every >= 1 and 0 <= slot < n <= m.MAX_PLAYERS
                    and len(base) == n * game.inputs.record_size):
                raise ValueError("out of range")
        except (KeyError, TypeError, ValueError) as e:
            raise WireError(f"bad WELCOME: {e}") from None
        if self.welcome is not None:
            self.counters.resyncs += 1
        self.game, self.codec = game, m.FrameCodec(game.inputs)
        self._players = n
        self.welcome, self.sim, self.world = w, sim, world
        self.names = {}
        self._on_roster(w.get("names", {}))
        self.slot, self.rate, self.delay, self.every = slot, rate, delay, every
        self.interval = 1.0 / rate
        self.frame = self.have = frame
        self.newest = max(frame, live)
        self.live_frame = live
        self._base = base
        self._decoded.clear()
        self._raw.clear()
        self._pending.clear()
        self._input_ack = live
        self._arrivals.clear()
        self._origin = math.inf
        self._last_advance = None
        self.handshake_pending = True
        self.synced = None
        self._input_made.clear()
        self._next_input = live + 1
        self.rb = None
        if self.config.rollback and world is not None:
            self.rb = Rollback(game, sim, world, frame, base, slot, self.config.rollback, every,
                               self._report_checksum if self.config.report_checksums else None,
                               self._confirmed, self._canceled)
            conn = self.transport.connection
            if conn is not None:
                self.lead.aim(conn.stats.rtt, conn.stats.jitter, delay, self.interval)
            self.lead.jump(now)
        else:
            self._inputs_through(live + delay, now)  # inputs for the frames before our first step's
        self._events.append(Welcomed(int(w.get("match", 0)), slot, frame, live))
        self._send_inputs(now)

    def _on_frames(self, ack_lo: int, first_lo: int, blobs: list, now: float) -> None:
        first = m.unwrap(first_lo, self.have + 1)
        ack = m.unwrap(ack_lo, self.have)
        if ack > self._input_ack:
            self._input_ack = ack
        last = first + len(blobs) - 1
        if last > self.newest:
            self.newest = last
            sample = now - last * self.interval
            arrivals = self._arrivals
            arrivals.append(sample)
            self._origin = min(arrivals)  # the window forgets: clock drift cannot pin an old origin
            if self.config.jitter_buffer is None and len(arrivals) >= 4:
                self._jb = min(0.1, 2 * (sum(arrivals) / len(arrivals) - self._origin))
        n = self._players
        for i, blob in enumerate(blobs):
            f = first + i
            if f <= self.have or f in self._raw:
                self.counters.duplicate_bundles += 1
                continue
            if f == self.have + 1:
                self._decode(f, blob, n)
            else:
                self._raw[f] = blob
                self.counters.stashed += 1
        while self.have + 1 in self._raw:
            self._decode(self.have + 1, self._raw.pop(self.have + 1), n)
        if self._raw and min(self._raw) > self.have + 1:
            self._maybe_request(now, gap=True)

    def _decode(self, f: int, blob: bytes, n: int) -> None:
        records, join, leave, filled, carried = self.codec.decode_bundle(blob, n, self._base)
        if self.rb is not None:
            self.rb.confirm(f, records, join, leave)
        else:
            self._decoded[f] = (records, join, leave)
        if self.slot >= 0 and filled >> self.slot & 1:  # the server had no input from us in time for this frame
            self.counters.inputs_filled += 1
            self.filled_frames.append(f)
        if self.slot >= 0 and carried >> self.slot & 1:  # ... and it put our late input into this one instead
            self.counters.inputs_carried += 1
        self._base = records
        self.have = f
        self.counters.bundles += 1

    def _request_timeout(self) -> float:
        conn = self.transport.connection
        if conn is None:
            return 0.1
        return max(0.02, conn.stats.rtt + 4 * conn.stats.jitter + 0.01)

    def _maybe_request(self, now: float, gap: bool = False) -> None:
        """Ask for the frames after `have` when a bundle beyond them arrived (redundancy did not cover the
        loss) or the next frame is overdue by an interval (every packet carrying it may be lost: the
        server's live frame is estimated from the arrival schedule). Unreliable; re-asked after RTT + 4 jitter
        + 10 ms while the hole remains."""
        if self._origin == math.inf:
            return
        expected = math.floor((now - self._origin) / self.interval)  # the server's live frame, by schedule
        newest = max(self.newest, expected)
        if newest <= self.have:
            return
        if not gap and not self._raw and now - self._play_time(self.have + 1) < self.interval - _SLACK:
            return  # nothing beyond `have` arrived yet and it is not overdue: the next packet brings it
        if now - self._last_request < self._request_timeout() - _SLACK:
            return
        self._last_request = now
        self.counters.requests += 1
        self._send(m.encode_request(self.have + 1, min(newest - self.have, 4096)))

    # ------------------------------------------------------------------ frames

    def _play_time(self, f: int) -> float:
        return self._origin + f * self.interval + self._jb

    def _play(self, now: float) -> None:
        if self.rb is not None:
            self._play_ahead(now)
            return
        if self.have <= self.frame:
            return
        cfg = self.config
        target = math.floor((now + _SLACK - self._origin - self._jb) / self.interval)
        catching_up = target - self.frame > cfg.catchup_frames
        steps = 0
        while self.frame < self.have and (self.frame + 1 <= target or catching_up) and steps < cfg.max_frames_per_update:
            f = self.frame + 1
            records, join, leave = self._decoded.pop(f)
            self.frame_inputs = records
            if self.world is not None:
                self.frame_events = apply_frame(self.game, self.world, records, join, leave)
                if self.frame_events:
                    self._confirmed(f, self.frame_events)  # authoritative inputs: final as stepped
            self.frame = f
            steps += 1
            self.counters.frames += 1
            if not catching_up:
                late = now - self._play_time(f)
                if late > self.max_stall:
                    self.max_stall = late
                if self._last_advance is not None and now - self._last_advance > self.max_gap:
                    self.max_gap = now - self._last_advance
                self._last_advance = now
            else:
                self._last_advance = None
            if f % self.every == 0 and self.world is not None and self.config.report_checksums:
                self._report_checksum(f, self.game.checksum(self.world))
            if self.on_frame is not None:
                self.on_frame(self, f)
            self._shown(f, now)
            self._inputs_through(f + self.delay, now)
        if steps:
            self._send_inputs(now)

    def _play_ahead(self, now: float) -> None:
        """Rollback mode: re-simulate if a received frame differs from its prediction, then step up to the frame
        the clock says (lead seconds ahead of the received frames), our own input first."""
        rb = self.rb
        if self._origin == math.inf:
            return  # no frame has arrived: we don't know the schedule yet
        lead = self.lead.update(now)
        target = math.floor((now + _SLACK - self._origin + lead) / self.interval)
        rb.reconcile()
        steps = 0
        limit = self.config.max_frames_per_update
        while rb.frame < target and steps < limit:
            f = rb.frame + 1
            self._inputs_through(f + self.delay, now)  # delay 0: this frame's own input, shown at once
            if not rb.advance(f):
                break  # the rollback window is full: wait for the server's frames
            steps += 1
            self.counters.frames += 1
            self.frame, self.world = f, rb.world
            self.frame_events = rb.events
            self._shown(f, now)
            if self.on_frame is not None:
                self.on_frame(self, f)
        self.frame, self.world = rb.frame, rb.world
        if steps:
            self._send_inputs(now)

    def _confirmed(self, f: int, events: list) -> None:
        if self.on_confirmed is not None:
            self.on_confirmed(self, f, events)

    def _canceled(self, f: int, events: list) -> None:
        if self.on_canceled is not None:
            self.on_canceled(self, f, events)

    def _report_checksum(self, f: int, crc: int) -> None:
        """CHECKSUM for frame ``f`` (classic: when stepped; rollback: once agreed, i.e. stepped on authoritative
        inputs), with the handshake flag on the first one after the live frame we joined at."""
        self.checksums[f] = crc
        hs = self.handshake_pending and f > self.live_frame
        if hs:
            self.handshake_pending = False
        self._send(m.encode_checksum(f, crc, hs))
        self.counters.checksums_sent += 1

    def _shown(self, f: int, now: float) -> None:
        made = self._input_made.pop(f, None)
        if made is not None:
            self.input_latency.append(now - made)

    def _inputs_through(self, g: int, now: float) -> None:
        """Make our inputs for every frame we owe up to ``g``: one sample for all of them (two when the input
        delay just grew, none when it just shrank). An input for a frame the server already built is still made
        (the server carries it to its next frame), except when catching up far behind."""
        lo = self._next_input
        if self.rb is None and self.newest - lo > self.config.catchup_frames:
            lo = self.newest + 1  # catching up: inputs for frames long built would only pile up as late ones
        if g < lo:
            return
        self.input_frame = g
        inp = self.brain(self) if self.brain is not None else self.next_input
        try:
            inp = int(inp)
        except (TypeError, ValueError):
            inp = -1
        if not self.game.inputs.valid(inp):  # the server would drop the whole message, repeats and all
            self.counters.invalid_inputs += 1
            inp = 0
        for f in range(lo, g + 1):
            self._pending[f] = inp
            if self.rb is not None:
                self.rb.local_input(f, inp)
        self._input_made[g] = now
        if len(self._input_made) > 256:
            self._input_made.pop(min(self._input_made))
        self._next_input = g + 1

    def _send_inputs(self, now: float) -> None:
        frames = sorted(f for f in self._pending if self._input_ack < f <= self.have + 127)
        run: list[int] = []
        for f in reversed(frames):  # the newest contiguous run, at most MAX_INPUTS
            if run and f != run[-1] - 1 or len(run) >= m.MAX_INPUTS:
                break
            run.append(f)
        run.reverse()
        first = run[0] if run else self.have + 1
        if first < self.have - 128:  # the oldest unacknowledged input is too old to name: the server dropped it
            run = [f for f in run if f >= self.have - 128]
            first = run[0] if run else self.have + 1
        self._send(self.codec.encode_input(self.have, first, [self._pending[f] for f in run]))
        self.counters.inputs_sent += len(run)
        self._sent_ack = self.have
        self._last_send = now
