"""One established session: packet acks, RTT, and the three channels over one sequence space.

Reliability follows Fiedler's "Reliable Ordered Messages" and netcode.io's reliable.io: every
packet carries its 16-bit sequence, the newest sequence received and a 32-bit bitfield of the
32 before it, so each ack is repeated in up to 33 packets. Reliable messages are resent until a
packet carrying them is acked; the receiver orders them by a 16-bit message id.
"""
from __future__ import annotations

import zlib
from collections import deque

from ..security import packets as sp
from ..wire import packet as wp
from ..wire.errors import WireError
from ..wire.seq import seq_diff
from .config import TransportConfig
from .framing import PlainFraming
from .events import Channel, DisconnectReason, LocalProtocolError, MessageReceived, SendQueueFull
from .stats import ConnectionStats

RING = 1024  # packet records kept for acks and duplicate detection
# Packets carrying data stop while this many sent packets are still awaiting their verdict: a packet
# whose record is overwritten before its ack returns can never be acked, and its messages would be
# resent forever. Keep-alives and ack-only packets still go out.
_MAX_IN_FLIGHT = RING - 64
# A forward jump in the peer's sequence larger than this is a replayed old datagram (16-bit wrap),
# never a live peer: it can't have that many packets in flight (see _MAX_IN_FLIGHT).
_MAX_FORWARD_JUMP = 4 * RING
_ACK_EVERY = 16  # an ack-only packet after this many received packets without a reply
_MASK32 = 0xFFFFFFFF
# A reliable unit's key is msg_id << 8 | fragment index; an unfragmented message uses index 255,
# which no fragment can have (at most 255 fragments, indices 0..254).
_WHOLE = 255
_ACKED = 0x10000  # added to a sent-packet ring slot's sequence once that packet is acked (see Connection._sent_seq)
_pack_reliable = wp.MSG_RELIABLE_HDR.pack
_pack_unreliable = wp.MSG_UNRELIABLE_HDR.pack
_UNRELIABLE_HDR_SIZE = wp.MSG_UNRELIABLE_HDR.size
_RELIABLE = Channel.RELIABLE
_UNRELIABLE = Channel.UNRELIABLE
_MSG_RELIABLE = wp.MSG_RELIABLE
_MSG_UNRELIABLE = wp.MSG_UNRELIABLE
_TAIL_SIZE = wp.PAYLOAD_TAIL.size
_PAYLOAD_HEADER_SIZE = wp.PAYLOAD_HEADER_SIZE
_MAX_DATAGRAM = wp.MAX_DATAGRAM
_unpack_reliable = wp.MSG_RELIABLE_HDR.unpack_from
_RELIABLE_HDR_SIZE = wp.MSG_RELIABLE_HDR.size
_PLAIN_TAIL = wp.PAYLOAD_HEADER_SIZE - _TAIL_SIZE
_unpack_tail = wp.PAYLOAD_TAIL.unpack_from
_pack_tail = wp.PAYLOAD_TAIL.pack
_MAX_UNFRAGMENTED = wp.MAX_UNFRAGMENTED
_MAX_MESSAGES_BYTES = wp.MAX_MESSAGES_BYTES
_ACK_DELAY_UNIT = wp.ACK_DELAY_UNIT
# MessageReceived without NamedTuple.__new__'s Python-level frame: one is made per message.
_new_tuple = tuple.__new__


class Connection:
    """The per-peer state shared by server and client once the handshake is done."""

    # Slots, not a __dict__: with 61 attributes an instance dict outgrows CPython's shared-key limit (30 keys) and
    # every attribute lives in a private 1.6 KB dict. Each datagram touches dozens of them just after the
    # process wakes with its caches cold, where the cache misses cost more than the instructions. Slots are laid
    # out in the order named: those a request/response datagram touches come first (in the order the receive, the
    # send and the emit use them), so they share as few cache lines as they can; the rest follow alphabetically.
    __slots__ = ('closed', '_recv_complete', '_assembly', '_recv_next_id', 'stats', '_recv_newest', '_recv_ring',
                 '_recv_bits', '_recv_newest_time', '_recv_since_send', '_last_recv', '_ack_pending_since',
                 'settle_queue', '_acks_due', '_events', 'client_id', 'recv_key', '_next_msg_id', '_open_ids',
                 '_max_message', '_waiting', '_window', '_unsent', '_parts_left', '_queued', '_unreliable', '_ack_queue',
                 '_disconnects_left', 'unconfirmed', '_inflight', '_seq', '_loss_cursor', '_resend_floor', '_min_resend',
                 '_sent_seq', '_sent_time', '_sent_units', 'send_key', 'addr', '_last_send', '_timeout',
                 '_ack_delay', '_ack_seen', '_ack_seen_bits', '_assembly_bytes', '_complete_bytes', '_created',
                 '_keepalive', '_max_resend', '_rto', '_rto_samples', '_seal', '_seq_in', '_seq_out',
                 '_unreliable_bytes', '_unreliable_limit', '_waiting_bytes', 'accept_payload', 'close_reason', 'config',
                 'due_queue', 'framing', 'session', 'timer_stamp')

    def __init__(self, client_id: int, addr, session: int, config: TransportConfig, now: float, events: list,
                 is_server: bool, framing=None, unconfirmed: bool = False):
        self.client_id = client_id
        self.addr = addr
        self.session = session
        # how packets are wrapped: the development transport's CRC check, or netcode.io's AEAD (framing.py)
        self.framing = framing if framing is not None else PlainFraming(session, is_server)
        # a secure server's connection until the client is heard from: a keep-alive precedes our packets (it tells
        # the client its index; STANDARD.md "Connected Clients")
        self.unconfirmed = unconfirmed
        self._seal = self.framing.seal_payload
        self.send_key = getattr(self.framing, "send_key", None)  # the plain framing's CRC seeds
        self.recv_key = getattr(self.framing, "recv_key", None)
        self.config = config
        self.accept_payload = b""  # server side: what this connection was accepted with (resent if lost)
        self.stats = ConnectionStats()
        self.closed = False
        self.close_reason: int | None = None
        self._events = events
        self._last_recv = now
        self._last_send = now
        self._created = now
        # send side: packet records
        self._seq = 0
        # Sent-packet ring: the sequence in each slot, plus _ACKED once that packet is acked (one list, not a
        # second of flags: a packet sent is then one store fewer, in one cache line fewer)
        self._sent_seq = [-1] * RING
        self._sent_time = [0.0] * RING
        self._sent_units: list = [None] * RING
        self._ack_seen = -1  # newest ack field processed, and its bits, to skip already-seen acks
        self._ack_seen_bits = 0
        self._loss_cursor = 0
        # receive side: what we acknowledge
        self._recv_newest = -1
        self._recv_newest_time = now
        self._recv_bits = 0
        self._recv_ring = [-1] * RING
        self._ack_pending_since: float | None = None
        # reliable-ordered send
        self._next_msg_id = 0
        self._window = config.reliable_window  # config is frozen: cached for the per-message send
        self._timeout = config.timeout  # ... and for the per-datagram checks
        self._min_resend = config.min_resend
        self._max_resend = config.max_resend
        self._keepalive = config.keepalive_interval
        self._ack_delay = config.ack_delay
        self._rto = config.max_resend  # resend_timeout's RFC 6298 part, as of _rto_samples RTT samples
        self._rto_samples = 0
        self._max_message = config.max_message_size
        self._unreliable_limit = config.unreliable_queue_limit
        self._complete_bytes = 0  # complete messages waiting for an earlier one (counted with reassembly)
        self._recv_since_send = 0
        self._ack_queue: list = []  # ack-only datagrams made while receiving, sent at the next flush
        self._open_ids: deque[int] = deque()  # message ids with unacked units, oldest first
        self._parts_left: dict[int, int] = {}
        self._unsent: deque = deque()  # (key, encoded) never sent yet
        self._inflight: dict[int, list] = {}  # key -> [encoded, last sent time], oldest send first
        # No record in _inflight was last sent before this: a lower bound, exact whenever _pack_data has looked
        # at the oldest record. Enough for datagrams() to see that nothing is due for resending without an
        # iterator over the dict on every flush; when the bound says "maybe", _pack_data looks.
        self._resend_floor = now
        self._waiting: deque[bytes] = deque()  # beyond the window: backpressure buffer
        self._waiting_bytes = 0
        # reliable-ordered receive
        self._recv_next_id = 0
        self._recv_complete: dict[int, bytes] = {}
        self._assembly: dict[int, list] = {}  # id -> [count, {index: body}, bytes, first seen]
        self._assembly_bytes = 0
        # unreliable
        self._seq_out = 0
        self._seq_in = -1
        self._unreliable: deque[bytes] = deque()
        self._unreliable_bytes = 0
        self._disconnects_left = 0
        # Answer first, account later: when the endpoint's driver settles after each send (Endpoint.settle),
        # the acks a payload carries wait in _acks_due, and this connection in settle_queue, until the
        # datagrams the payload's messages caused are out. Their bookkeeping (acked packets, RTT, loss, the
        # window) then runs while the peer already reads our answer, not in front of it.
        self.settle_queue: list | None = None
        self._acks_due: list = []
        # A server's list of the connections its next flush must visit (netcode.protocol.schedule): a connection
        # whose state may have moved its next timer earlier (a message queued, a datagram received, acks settled,
        # a close) puts itself there once. None, with _queued True, for a connection nobody lists (a client's).
        self.due_queue: list | None = None
        self._queued = True
        self.timer_stamp = 0  # its entry in the server's timer heap (see DueConnections)

    # ------------------------------------------------------------------ application side

    def send(self, channel: int, data: bytes) -> None:
        """Queue a message. Raises SendQueueFull (reliable backpressure) or LocalProtocolError."""
        if channel == _RELIABLE and not self.closed:
            # The common case, inlined with module constants (this runs once per message): one small
            # reliable message, window open, nothing waiting ahead of it.
            n = len(data)
            msg_id = self._next_msg_id
            open_ids = self._open_ids
            # open_ids holds every id from the oldest unacked one to msg_id - 1 (appended in order, popped from the
            # left), so its length is the window in use: _window_open() without indexing the deque
            if n <= _MAX_UNFRAGMENTED and n <= self._max_message and not self._waiting and len(open_ids) < self._window:
                self._next_msg_id = (msg_id + 1) & 0xFFFF
                # the key msg_id << 8 | _WHOLE, in the arithmetic CPython specialises (its shift and or are
                # generic calls, cold when the process wakes)
                self._unsent.append((msg_id * 256 + _WHOLE, _pack_reliable(_MSG_RELIABLE, msg_id, n) + data))
                open_ids.append(msg_id)
                self._parts_left[msg_id] = 1
                self.stats.messages_out += 1
                if not self._queued:  # touch(), inlined
                    self._queued = True
                    self.due_queue.append(self)
                return
        elif channel == _UNRELIABLE and not self.closed:
            # The common unreliable case, inlined likewise (a lockstep server sends one per client per frame).
            n = len(data) + _UNRELIABLE_HDR_SIZE
            queue = self._unreliable
            if n <= _MAX_MESSAGES_BYTES and len(queue) < self._unreliable_limit:
                queue.append(_pack_unreliable(_MSG_UNRELIABLE, n - _UNRELIABLE_HDR_SIZE) + data)
                self._unreliable_bytes += n
                self.stats.messages_out += 1
                if not self._queued:  # touch(), inlined
                    self._queued = True
                    self.due_queue.append(self)
                return
        self._send_general(channel, data)

    def _send_general(self, channel: int, data: bytes) -> None:
        if self.closed:
            raise LocalProtocolError("connection is closed")
        self.touch()
        if channel == Channel.RELIABLE:
            self._send_reliable(data)
        elif channel == Channel.SEQUENCED:
            self._queue_unreliable(wp.encode_sequenced(self._seq_out, data))
            self._seq_out = (self._seq_out + 1) & 0xFFFF
        elif channel == Channel.UNRELIABLE:
            self._queue_unreliable(wp.encode_unreliable(data))
        else:
            raise LocalProtocolError(f"unknown channel {channel}")
        self.stats.messages_out += 1

    def touch(self) -> None:
        """Tell the server listing this connection that its next flush must visit it (see due_queue)."""
        if not self._queued:
            self._queued = True
            self.due_queue.append(self)

    def can_send_reliable(self) -> bool:
        """False when a reliable send would raise SendQueueFull."""
        return len(self._waiting) < self.config.send_queue_limit and self._waiting_bytes < self.config.send_queue_bytes

    def close(self, reason: int = DisconnectReason.CLOSED) -> None:
        """Start closing: the next flushes carry DISCONNECT a few times."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self.touch()
        if reason in (DisconnectReason.CLOSED, DisconnectReason.PROTOCOL, DisconnectReason.REPLACED):
            self._disconnects_left = self.config.disconnect_redundancy

    def _send_reliable(self, data: bytes) -> None:
        n = len(data)
        if n > self.config.max_message_size or n > wp.MAX_FRAGMENTS * wp.FRAGMENT_SIZE:
            raise LocalProtocolError(f"reliable message of {n} bytes exceeds the limit {self.config.max_message_size}")
        if self._waiting or not self._window_open():
            if not self.can_send_reliable():
                raise SendQueueFull(f"{len(self._waiting)} reliable messages waiting")
            self._waiting.append(data)
            self._waiting_bytes += n
            return
        self._admit(data)

    def _window_open(self) -> bool:
        if not self._open_ids:
            return True
        return seq_diff(self._next_msg_id, self._open_ids[0]) < self.config.reliable_window

    def _admit(self, data: bytes) -> None:
        msg_id = self._next_msg_id
        self._next_msg_id = (msg_id + 1) & 0xFFFF
        if len(data) <= wp.MAX_UNFRAGMENTED:
            self._unsent.append(((msg_id << 8) | _WHOLE, wp.encode_reliable(msg_id, data)))
            parts = 1
        else:
            size = wp.FRAGMENT_SIZE
            parts = -(-len(data) // size)
            for i in range(parts):
                self._unsent.append(((msg_id << 8) | i, wp.encode_fragment(msg_id, i, parts, data[i * size:(i + 1) * size])))
        self._open_ids.append(msg_id)
        self._parts_left[msg_id] = parts

    def _queue_unreliable(self, encoded: bytes) -> None:
        if len(encoded) > wp.MAX_MESSAGES_BYTES:
            raise LocalProtocolError(f"unreliable message of {len(encoded)} bytes does not fit one datagram")
        if len(self._unreliable) >= self.config.unreliable_queue_limit:
            dropped = self._unreliable.popleft()
            self._unreliable_bytes -= len(dropped)
            self.stats.dropped_unreliable += 1
        self._unreliable.append(encoded)
        self._unreliable_bytes += len(encoded)

    # ------------------------------------------------------------------ receive

    def receive_payload(self, data: bytes, now: float, off: int = _PLAIN_TAIL) -> None:
        """Handle a payload whose framing the owner has verified; its PAYLOAD_TAIL starts at ``off``
        (after the prefix and check of a plain datagram; 0 in a decrypted netcode.io payload).

        Raises WireError on a malformed body (the owner counts and drops it).
        """
        if len(data) < off + _TAIL_SIZE:
            raise WireError("short payload")
        seq, ack, bits, ack_delay = _unpack_tail(data, off)
        self._receive(data, now, seq, ack, bits, ack_delay, off + _TAIL_SIZE)

    def _receive(self, data: bytes, now: float, seq: int, ack: int, bits: int, ack_delay: int, start: int) -> None:
        """receive_payload once its PAYLOAD_TAIL is read; the messages start at ``start``."""
        if self.closed:
            return  # nothing is delivered after Disconnected
        # parse everything before touching state
        body = None  # the one in-order reliable message of a request/response datagram
        bodies = None  # or a run of in-order reliable messages
        end = len(data)
        if not self._recv_complete and not self._assembly:
            # common case: nothing buffered, so in-order reliable messages are delivered as they are
            if end - start >= _RELIABLE_HDR_SIZE:
                kind, ident, n = _unpack_reliable(data, start)
                if kind == _MSG_RELIABLE:  # (a datagram that starts with another kind cannot be a run)
                    if ident == self._recv_next_id and start + _RELIABLE_HDR_SIZE + n == end and type(data) is bytes:
                        body = data[start + _RELIABLE_HDR_SIZE:]
                    else:
                        bodies = wp.decode_in_order(data, self._recv_next_id, start)
            elif end == start:
                bodies = ()  # acks only
        messages = wp.decode_messages(data, start) if bodies is None and body is None else None
        stats = self.stats
        slot = seq & (RING - 1)
        # The first packet's short branch goes first: CPython 3.11 specialises a comparison only when the jump
        # after it is short, and the jump over the long branch would need an EXTENDED_ARG.
        if self._recv_newest < 0:
            if messages and not self._reassembly_has_room(messages):
                stats.dropped_reassembly += 1
                return
            self._recv_newest = seq
            self._recv_newest_time = now
            stats.packets_expected += 1
        else:
            d = (seq - self._recv_newest) & 0xFFFF  # seq_diff, inlined: once per datagram
            if d > 0x8000:
                d -= 0x10000
            if d <= -RING or d > _MAX_FORWARD_JUMP:
                stats.stale_packets += 1
                return
            if self._recv_ring[slot] == seq:
                stats.duplicate_packets += 1
                return
            if messages and not self._reassembly_has_room(messages):
                stats.dropped_reassembly += 1
                return  # not acked: the sender will resend when we have room
            if d > 0:
                if d == 1:  # the next in order: bits << 1 | 1, in specialised additions (see send's key)
                    b = self._recv_bits
                    self._recv_bits = (b + b + 1) & _MASK32
                else:
                    self._recv_bits = ((self._recv_bits << d) | (1 << (d - 1))) & _MASK32 if d <= 32 else 0
                self._recv_newest = seq
                self._recv_newest_time = now
                stats.packets_expected += d
            elif d < 0 and d >= -32:
                self._recv_bits |= 1 << (-d - 1)
        self._recv_ring[slot] = seq
        self._recv_since_send += 1
        if self._recv_since_send >= _ACK_EVERY:
            # Built now, while its 32-bit window still covers every packet since our last send: a
            # peer streaming faster than we flush would otherwise see most of its packets unacked.
            self._emit(b"", None, now, self._ack_queue)
            self.touch()  # sent by this very flush
        stats.packets_in += 1
        stats.bytes_in += len(data)
        self._last_recv = now
        if self._ack_pending_since is None:
            self._ack_pending_since = now
        queue = self.settle_queue
        if queue is None:
            if not self._queued:  # touch(), inlined: an ack is owed (deferred, settle() touches)
                self._queued = True
                self.due_queue.append(self)
            self._process_acks(ack, bits, now, ack_delay * _ACK_DELAY_UNIT)
        else:
            if not self._acks_due:
                queue.append(self)
            self._acks_due.append((ack, bits, now, ack_delay))  # in 10 µs units until settle()
        if body is not None:
            self._events.append(_new_tuple(MessageReceived, (self.client_id, 0, body)))
            self._recv_next_id = (self._recv_next_id + 1) & 0xFFFF
            stats.messages_in += 1
        elif bodies:
            cid = self.client_id
            self._events.extend([_new_tuple(MessageReceived, (cid, 0, b)) for b in bodies])
            self._recv_next_id = (self._recv_next_id + len(bodies)) & 0xFFFF
            stats.messages_in += len(bodies)
        elif messages:
            self._deliver(messages, now)

    def settle(self) -> None:
        """Process the acks deferred since the last settle (see settle_queue), oldest first."""
        due = self._acks_due
        if due:
            self._acks_due = []
            for ack, bits, now, ack_delay in due:
                self._process_acks(ack, bits, now, ack_delay * _ACK_DELAY_UNIT)
            if not self._queued:  # touch(), inlined: the window may have opened, the resend timer moved
                self._queued = True
                self.due_queue.append(self)

    def receive_disconnect(self) -> None:
        if not self.closed:
            self.closed = True
            self.close_reason = DisconnectReason.REMOTE_CLOSED

    def _process_acks(self, ack: int, bits: int, now: float, ack_delay: float) -> None:
        # Runs for every payload received: seq_diff is inlined, and the common case (the ack
        # moved on by one, its bits all seen before) acks just the head packet.
        prev = self._ack_seen
        if prev < 0:
            new_bits = bits
            fresh_head = True
        else:
            d = (ack - prev) & 0xFFFF
            if d == 0:
                new_bits = bits & ~self._ack_seen_bits
                fresh_head = False
            elif d <= 32:
                seen = ((self._ack_seen_bits << 1) | 1) << (d - 1)
                new_bits = bits & ~seen & _MASK32
                fresh_head = True
            elif d <= 0x8000:  # seq_diff(ack, prev) > 0
                new_bits = bits
                fresh_head = True
            else:
                # an older ack arrived late (reordering): just look at all of it once
                self._ack_packet(ack, now, None)  # no RTT sample from a late ack
                self._ack_bits(ack, bits, now)
                return
        self._ack_seen = ack
        self._ack_seen_bits = bits
        if fresh_head:
            self._ack_packet(ack, now, ack_delay)
        if new_bits:
            self._ack_bits(ack, new_bits, now)
        # a packet more than 32 behind the newest ack can no longer be acked: judged now (see _judge_losses)
        if 0 < ((ack - 32 - self._loss_cursor) & 0xFFFF) <= 0x8000:
            self._judge_losses(ack)

    def _ack_bits(self, ack: int, bits: int, now: float) -> None:
        """Ack the packets ``bits`` names behind ``ack`` (bit n: ack - n - 1)."""
        while bits:
            low = bits & -bits
            bits ^= low
            self._ack_packet((ack - low.bit_length()) & 0xFFFF, now, None)

    def _ack_packet(self, seq: int, now: float, ack_delay: float | None) -> None:
        """Mark one sent packet acked; ack_delay is given (not None) when it is the newest acked."""
        slot = seq & (RING - 1)
        if self._sent_seq[slot] != seq:
            return  # not sent in this slot, or acked already (then it holds seq + _ACKED)
        self._sent_seq[slot] = seq + _ACKED
        if ack_delay is not None:
            self.stats.add_rtt_sample(max(0.0, now - self._sent_time[slot] - ack_delay))
        units = self._sent_units[slot]
        if units:
            self._sent_units[slot] = None
            inflight, parts_left = self._inflight, self._parts_left
            finished = False
            for key in units:
                if inflight.pop(key, None) is None:
                    continue  # acked before, through another copy
                msg_id = key >> 8
                if key & 0xFF == _WHOLE:
                    del parts_left[msg_id]  # a whole message has one part
                    finished = True
                    continue
                left = parts_left[msg_id] - 1
                if left:
                    parts_left[msg_id] = left
                else:
                    del parts_left[msg_id]
                    finished = True
            # the window moves only when its oldest message is done (asked here: most acks finish a later one)
            if finished and self._open_ids[0] not in parts_left:
                self._advance_window()

    def _judge_losses(self, ack: int) -> None:
        # A packet more than 32 behind the newest ack can no longer be acked: count it delivered or lost.
        # Runs of delivered packets are counted at once (the usual case: one packet per ack, delivered).
        limit = (ack - 32) & 0xFFFF
        cursor = self._loss_cursor
        seq = self._seq
        sent_seq, stats = self._sent_seq, self.stats
        acked = cursor + _ACKED  # what the ring holds for the packet at cursor once it is acked
        delivered = 0
        # while seq_diff(limit, cursor) > 0 and seq_diff(self._seq, cursor) > 0, inlined
        while 0 < ((limit - cursor) & 0xFFFF) <= 0x8000 and 0 < ((seq - cursor) & 0xFFFF) <= 0x8000:
            recorded = sent_seq[cursor & (RING - 1)]
            if recorded == acked:
                delivered += 1
            elif recorded == cursor:
                if delivered:
                    stats.add_delivered(delivered)
                    delivered = 0
                stats.add_loss_sample(True)
            cursor = (cursor + 1) & 0xFFFF
            acked = cursor + _ACKED
        if delivered:
            stats.add_delivered(delivered)
        self._loss_cursor = cursor

    def _advance_window(self) -> None:
        open_ids, parts_left = self._open_ids, self._parts_left
        while open_ids and open_ids[0] not in parts_left:
            open_ids.popleft()
        waiting = self._waiting
        while waiting and self._window_open():
            data = waiting.popleft()
            self._waiting_bytes -= len(data)
            self._admit(data)

    def _reassembly_has_room(self, messages: list) -> bool:
        """Whether the reliable bodies this packet would buffer (fragments and out-of-order
        messages) fit the per-connection limit next to what is already buffered."""
        extra = 0
        nxt = self._recv_next_id
        for m in messages:
            kind = m[0]
            if kind == wp.MSG_FRAGMENT and m[1] != nxt:
                extra += len(m[4])
            elif kind == wp.MSG_RELIABLE and m[1] != nxt:
                extra += len(m[2])
        # the head-of-line message is always accepted so that the channel can always make progress
        return extra == 0 or self._assembly_bytes + self._complete_bytes + extra <= self.config.reassembly_bytes

    def _deliver(self, messages: list, now: float) -> None:
        events = self._events
        cid = self.client_id
        window = self.config.reliable_window
        delivered_reliable = False
        for m in messages:
            kind = m[0]
            if kind == wp.MSG_RELIABLE:
                ident = m[1]
                d = seq_diff(ident, self._recv_next_id)
                if d < 0 or d >= window or ident in self._recv_complete or ident in self._assembly:
                    self.stats.duplicate_messages += 1
                    continue
                if d == 0 and not delivered_reliable and not self._recv_complete:
                    # in-order fast path: nothing buffered ahead of it
                    events.append(_new_tuple(MessageReceived, (cid, Channel.RELIABLE, m[2])))
                    self._recv_next_id = (ident + 1) & 0xFFFF
                    self.stats.messages_in += 1
                    continue
                self._recv_complete[ident] = m[2]
                self._complete_bytes += len(m[2])
                delivered_reliable = True
            elif kind == wp.MSG_SEQUENCED:
                seq = m[1]
                if self._seq_in >= 0 and not 0 < ((seq - self._seq_in) & 0xFFFF) < 0x8000:
                    self.stats.duplicate_messages += 1
                    continue
                self._seq_in = seq
                events.append(_new_tuple(MessageReceived, (cid, Channel.SEQUENCED, m[2])))
                self.stats.messages_in += 1
            elif kind == wp.MSG_UNRELIABLE:
                events.append(_new_tuple(MessageReceived, (cid, Channel.UNRELIABLE, m[1])))
                self.stats.messages_in += 1
            else:
                if self._add_fragment(m, now):
                    delivered_reliable = True
        if delivered_reliable:
            self._drain_in_order()

    def _add_fragment(self, m: tuple, now: float) -> bool:
        _, ident, index, count, body = m
        d = seq_diff(ident, self._recv_next_id)
        if d < 0 or d >= self.config.reliable_window or ident in self._recv_complete:
            self.stats.duplicate_messages += 1
            return False
        asm = self._assembly.get(ident)
        if asm is None:
            asm = self._assembly[ident] = [count, {}, 0, now]
        elif asm[0] != count:
            self.close(DisconnectReason.PROTOCOL)  # the peer changed a message's fragment count
            return False
        parts = asm[1]
        if index in parts:
            self.stats.duplicate_messages += 1
            return False
        if asm[2] + len(body) > self.config.max_message_size:
            self.close(DisconnectReason.PROTOCOL)
            return False
        parts[index] = body
        asm[2] += len(body)
        self._assembly_bytes += len(body)
        if len(parts) < count:
            return False
        del self._assembly[ident]
        self._assembly_bytes -= asm[2]
        whole = b"".join(parts[i] for i in range(count))
        self._recv_complete[ident] = whole
        self._complete_bytes += len(whole)
        return True

    def _drain_in_order(self) -> None:
        complete = self._recv_complete
        events = self._events
        nxt = self._recv_next_id
        while nxt in complete:
            body = complete.pop(nxt)
            self._complete_bytes -= len(body)
            events.append(MessageReceived(self.client_id, Channel.RELIABLE, body))
            self.stats.messages_in += 1
            nxt = (nxt + 1) & 0xFFFF
        self._recv_next_id = nxt

    # ------------------------------------------------------------------ timers

    def resend_timeout(self) -> float:
        """RFC 6298's RTO within [min_resend, max_resend]; doubled for every max_resend the peer has been
        silent (at most 8x, i.e. 1.6 s at the default max_resend), so a silent peer is not hammered with
        resends of everything in flight until it times out."""
        stats = self.stats
        if stats.rtt_samples != self._rto_samples:
            # asked before every sleep, changed only by a new RTT sample: worked out once per sample
            self._rto_samples = stats.rtt_samples
            c = self.config
            if stats.rtt_samples == 0:
                self._rto = c.max_resend
            else:
                self._rto = min(max(stats.rtt + 4 * stats.jitter + c.ack_delay, c.min_resend), c.max_resend)
        silent = self._last_send - self._last_recv
        if silent > self._max_resend:
            return self._rto * (1 << min(3, int(silent / self._max_resend)))
        return self._rto

    def end_if_due(self, now: float) -> int | None:
        """Why this connection ends now, if it does (closed, silent past the timeout, or a message left
        incomplete too long: closed here with that reason); None while it lives. Both endpoints ask it."""
        if self.closed:
            return self.close_reason or DisconnectReason.CLOSED
        if self._last_recv + self._timeout <= now:  # timed_out, inlined: asked before every flush
            self.close(DisconnectReason.TIMEOUT)
            return DisconnectReason.TIMEOUT
        if self._assembly and self.reassembly_expired(now):
            self.close(DisconnectReason.PROTOCOL)
            return DisconnectReason.PROTOCOL
        return None

    def timed_out(self, now: float) -> bool:
        return self._last_recv + self.config.timeout <= now

    def reassembly_expired(self, now: float) -> bool:
        if not self._assembly:
            return False  # checked every flush: skip the generator in the common case
        limit = self.config.reassembly_timeout
        return any(asm[3] + limit <= now for asm in self._assembly.values())

    def next_timer(self) -> float:
        """The earliest time this connection wants datagrams_to_send or a timeout check."""
        if self._unsent or self._unreliable or self._disconnects_left or self._ack_queue:
            return 0.0
        # the least of the deadlines below, without min(): asked before every sleep
        t = self._last_recv + self._timeout
        keepalive = self._last_send + self._keepalive
        if keepalive < t:
            t = keepalive
        if self._ack_pending_since is not None and self._ack_pending_since + self._ack_delay < t:
            t = self._ack_pending_since + self._ack_delay
        if self._inflight:
            resend = next(iter(self._inflight.values()))[1] + self.resend_timeout()
            if resend < t:
                t = resend
        if self._assembly:  # a message left incomplete expires (end_if_due)
            expiry = min(asm[3] for asm in self._assembly.values()) + self.config.reassembly_timeout
            if expiry < t:
                t = expiry
        return t

    # ------------------------------------------------------------------ send

    def datagrams(self, now: float, out: list) -> None:
        """Append every datagram due now as (bytes, addr) to out (see _datagrams).

        A secure server connection not yet heard from puts a netcode.io keep-alive before what it sends:
        that is how the client learns it is connected (STANDARD.md "Connected Clients")."""
        if self._unsent and not (self._unreliable or self._ack_queue or self._disconnects_left or self.closed
                                 or self.unconfirmed):
            # What a request/response stream does each time, straight to the packer: only new reliable messages
            # are due, the packet ring has room and nothing in flight is old enough to be resent (see _pack_data).
            inflight = self._inflight
            room = _MAX_IN_FLIGHT - ((self._seq - self._loss_cursor) & 0xFFFF)
            if room > 0 and (not inflight or self._resend_floor + self._min_resend > now):
                unsent = self._unsent
                if len(unsent) == 1:  # one message: one datagram, no packing
                    key, enc = unsent.popleft()
                    if not inflight:
                        self._resend_floor = now
                    inflight[key] = [enc, now]
                    self._emit(enc, [key], now, out)
                else:
                    self._pack_new(now, out, min(room, self.config.max_datagrams_per_flush))
                return
        if self.unconfirmed and not self.closed:
            mark = len(out)
            self._datagrams(now, out)
            if len(out) > mark:
                out.insert(mark, (self.framing.keep_alive(), self.addr))
            return
        self._datagrams(now, out)

    def _datagrams(self, now: float, out: list) -> None:
        """Append every datagram due now as (bytes, addr) to out.

        Order within a flush: due resends, then unreliable, then new reliable units, packed
        greedily into datagrams of at most MAX_DATAGRAM bytes, at most max_datagrams_per_flush
        of them; what does not fit stays queued for the next flush.
        """
        if self._disconnects_left:
            reason = self.close_reason or DisconnectReason.CLOSED
            while self._disconnects_left:
                out.append((self.framing.disconnect(reason), self.addr))
                self._disconnects_left -= 1
            return
        if self.closed:
            return
        if self._ack_queue:
            out.extend(self._ack_queue)
            self._ack_queue.clear()
        room = _MAX_IN_FLIGHT - ((self._seq - self._loss_cursor) & 0xFFFF)
        if room > 0:
            unreliable = self._unreliable
            if unreliable and not self._inflight and not self._unsent and self._unreliable_bytes <= _MAX_MESSAGES_BYTES:
                # Only unreliable messages, and they all fit one datagram: what _pack_data would build,
                # without its packer (e.g. a lockstep server's one FRAMES message per client per frame).
                body = b"".join(unreliable)
                unreliable.clear()
                self._unreliable_bytes = 0
                self._emit(body, None, now, out)
                return  # the datagram carries the ack, and it is a keep-alive
            self._pack_data(now, out, min(room, self.config.max_datagrams_per_flush))
        ack_due = self._ack_pending_since is not None and self._ack_pending_since + self._ack_delay <= now
        if ack_due or self._last_send + self._keepalive <= now:
            self._emit(b"", None, now, out)

    def _pack_data(self, now: float, out: list, limit: int) -> None:
        inflight = self._inflight
        # the oldest record's last send (what it packs now, when nothing is in flight): _resend_floor made exact
        self._resend_floor = first = next(iter(inflight.values()))[1] if inflight else now
        # nothing is due for resending while the oldest in flight is younger than the least timeout (then the
        # RFC 6298 timeout itself need not be worked out)
        if not self._unreliable and (not inflight or first + self._min_resend > now or
                                     first + self.resend_timeout() > now):
            if self._unsent:
                self._pack_new(now, out, limit)
            return
        packer = _Packer(self, now, out, limit)
        if inflight:
            rto = self.resend_timeout()
            due = []
            for key, rec in inflight.items():
                if rec[1] + rto > now:  # (next_timer's sum, so that a flush at that timer resends)
                    break
                due.append(key)
            for key in due:
                rec = inflight[key]
                if not packer.add(key, rec[0]):
                    break
                del inflight[key]
                rec[1] = now
                inflight[key] = rec  # re-insert: the dict stays ordered by last send
                self.stats.resent += 1
        queue = self._unreliable
        while queue and packer.add(-1, queue[0]):
            self._unreliable_bytes -= len(queue.popleft())
        unsent = self._unsent
        if unsent:
            # packer.add inlined: this loop carries every new reliable message
            body, units, size = packer.body, packer.units, packer.size
            popleft, append_body, append_unit = unsent.popleft, body.append, units.append
            while unsent:
                item = popleft()
                key, enc = item
                n = len(enc)
                if size + n > _MAX_MESSAGES_BYTES:
                    packer.body, packer.units, packer.size = body, units, size
                    if not packer.add(key, enc):
                        unsent.appendleft(item)
                        break
                    body, units, size = packer.body, packer.units, packer.size
                    append_body, append_unit = body.append, units.append
                else:
                    append_body(enc)
                    append_unit(key)
                    size += n
                inflight[key] = [enc, now]
            packer.body, packer.units, packer.size = body, units, size
        packer.finish()

    def _pack_new(self, now: float, out: list, limit: int) -> None:
        """_pack_data when only new reliable units are due (the common case: nothing to resend, nothing
        unreliable), without the general packer: each becomes in flight as it is packed."""
        unsent, inflight = self._unsent, self._inflight
        if not inflight:
            self._resend_floor = now  # (see _resend_floor)
        body: list = []
        units: list = []
        size = 0
        sent = 0
        while unsent:
            key, enc = unsent[0]
            n = len(enc)
            if size + n > _MAX_MESSAGES_BYTES:
                if sent + 1 >= limit:
                    break
                self._emit(b"".join(body), units, now, out)
                sent += 1
                body, units, size = [], [], 0
            unsent.popleft()
            body.append(enc)
            units.append(key)
            size += n
            inflight[key] = [enc, now]
        if body:
            self._emit(b"".join(body), units, now, out)

    def _emit(self, body: bytes, units: list | None, now: float, out: list) -> None:
        """Put one PAYLOAD carrying the encoded messages ``body`` (the reliable units ``units``, None if it has none)
        and our acks into ``out``, and record it in the sent-packet ring."""
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        slot = seq & (RING - 1)
        self._sent_seq[slot] = seq
        self._sent_time[slot] = now
        self._sent_units[slot] = units
        recv_newest = self._recv_newest
        if recv_newest >= 0:
            # float.__trunc__ is int() for this non-negative float, called the way CPython 3.11 specialises
            # (int() is a generic call: the type's own call machinery, cold when the process wakes)
            delay = ((now - self._recv_newest_time) * 1e5).__trunc__()
            if delay > 0xFFFF:
                delay = 0xFFFF
            tail = _pack_tail(seq, recv_newest, self._recv_bits, delay) + body
        else:
            # nothing received yet: ack 0xFFFF with no bits, which the peer's sent-packet ring cannot match
            # until it has sent 65536 packets, long after it has heard from us
            tail = _pack_tail(seq, 0xFFFF, 0, 0) + body
        key = self.send_key
        if key is not None:  # PlainFraming.seal_payload, inlined: once per datagram
            data = _pack_plain_head(_PAYLOAD_PREFIX_WORD, _crc32(tail, key)) + tail
        else:
            seal = self._seal  # (a function kept in a slot: called from a local, see DatagramDriver._on_datagram)
            data = seal(tail)
        out.append((data, self.addr))
        stats = self.stats
        stats.packets_out += 1
        stats.bytes_out += len(data)
        self._last_send = now
        self._ack_pending_since = None
        self._recv_since_send = 0


class AckSettling:
    """What a transport endpoint adds for a driver that answers first and accounts later: after
    ``defer_acks()``, the acks in received payloads wait until ``settle(now)``, which the driver calls right
    after sending what the received messages caused (see Connection.settle_queue). Endpoints list their
    connections in ``_live_connections`` and hand every new one to ``_adopt``."""

    _settle_queue: list | None = None

    def defer_acks(self) -> None:
        """From now on leave received acks to ``settle`` (call it after every send of datagrams)."""
        if self._settle_queue is None:
            self._settle_queue = []
            for conn in self._live_connections():
                conn.settle_queue = self._settle_queue

    def settle(self, now: float) -> None:
        """Process the acks received since the last settle."""
        queue = self._settle_queue
        if queue:
            for conn in queue:
                conn.settle()
            queue.clear()

    def _adopt(self, conn: Connection) -> Connection:
        conn.settle_queue = self._settle_queue
        return conn


def earliest_timer(connections) -> float | None:
    """The earliest next_timer() of ``connections`` (None if there are none): a loop, not min() over a
    generator, since an endpoint asks it before every sleep."""
    t = None
    for conn in connections:
        c = conn.next_timer()
        if t is None or c < t:
            t = c
    return t


def receive_if_payload(conn: Connection, data: bytes, now: float, dropped) -> bool:
    """The fast path shared by both endpoints: a well-formed PAYLOAD for a known connection is handed
    to it (or dropped and counted in `dropped` when its check or body is bad). False: not a PAYLOAD
    for this version, for the endpoint's general handling."""
    if not _PAYLOAD_HEADER_SIZE <= len(data) <= _MAX_DATAGRAM:
        return False
    # The whole PAYLOAD_HEADER in one unpack, its 4-byte prefix read as one number: no startswith, no second
    # unpack for the tail (each is a C call whose code is cold when the process wakes for the datagram).
    prefix, check, seq, ack, bits, ack_delay = _unpack_header(data)
    if prefix != _PAYLOAD_PREFIX_WORD:
        return False
    if check != _crc32(data[_CHECK_AT + 4:], conn.recv_key):
        dropped["bad check"] += 1  # wp.payload_check_ok, inlined: once per datagram
        return True
    try:
        conn._receive(data, now, seq, ack, bits, ack_delay, _PAYLOAD_HEADER_SIZE)
    except WireError:
        dropped["malformed payload"] += 1
    return True


_CHECK_AT = wp.PREFIX.size
_unpack_header = wp.PAYLOAD_HEADER_WORDS.unpack_from
_PAYLOAD_PREFIX_WORD = wp.PAYLOAD_PREFIX_WORD
_pack_plain_head = wp.PAYLOAD_HEAD_WORDS.pack  # prefix word, then CHECK: one pack, and no bytes field to copy
_crc32 = zlib.crc32


class _Packer:
    """Greedy packing of encoded messages into datagrams for one flush."""

    __slots__ = ("conn", "now", "out", "body", "units", "size", "sent", "limit")

    def __init__(self, conn: Connection, now: float, out: list, limit: int):
        self.conn, self.now, self.out = conn, now, out
        self.body: list[bytes] = []
        self.units: list[int] = []
        self.size = 0
        self.sent = 0
        self.limit = limit

    def add(self, key: int, enc: bytes) -> bool:
        """Take a message; False (not taken) when the flush is at its datagram limit."""
        n = len(enc)
        if self.size + n > wp.MAX_MESSAGES_BYTES:
            if self.sent + 1 >= self.limit:
                return False
            self.conn._emit(b"".join(self.body), self.units or None, self.now, self.out)
            self.sent += 1
            self.body, self.units, self.size = [], [], 0
        self.body.append(enc)
        self.size += n
        if key >= 0:
            self.units.append(key)
        return True

    def finish(self) -> bool:
        """Emit the open datagram; True if this flush sent anything."""
        if self.body:
            self.conn._emit(b"".join(self.body), self.units or None, self.now, self.out)
            self.sent += 1
        return self.sent > 0


_SECURE_TYPES = frozenset((sp.KEEP_ALIVE, sp.PAYLOAD, sp.DISCONNECT))


def receive_secure(conn: Connection, data: bytes, now: float, dropped) -> int | None:
    """A netcode.io packet from a connection's peer: opened (forged, tampered, replayed and malformed ones
    are counted in ``dropped``), a payload handed to the connection, a keep-alive noted. Its packet type,
    or None when it was dropped."""
    framing = conn.framing
    try:
        ptype, _, plain = framing.recv.open(data, framing.replay, _SECURE_TYPES)  # framing.open, inlined
    except WireError as e:
        dropped[str(e)] += 1
        return None
    if ptype == sp.PAYLOAD:
        try:
            conn.receive_payload(plain, now, 0)
        except WireError:
            dropped["malformed payload"] += 1
            return None
    elif ptype == sp.KEEP_ALIVE:
        conn._last_recv = now
    return ptype
