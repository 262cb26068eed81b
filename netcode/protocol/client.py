"""Sans-IO client endpoint: request → challenge → response → accept, then one Connection."""
from __future__ import annotations

import os

from ..wire import packet as wp
from ..wire.errors import WireError
from .config import TransportConfig
from .connection import AckSettling, Connection, receive_if_payload
from .events import ConnectError, ConnectFailed, Connected, Disconnected, DisconnectReason, LocalProtocolError
from collections import Counter


class ClientState:
    """Client states; negative ones are terminal (netcode.io style)."""

    DENIED = -3
    CONNECT_TIMED_OUT = -2
    DISCONNECTED = -1
    IDLE = 0
    REQUESTING = 1
    RESPONDING = 2
    CONNECTED = 3


_CONNECTED = ClientState.CONNECTED  # a module constant for the per-message send


class ClientProtocol(AckSettling):
    """One client's side of a connection to server_addr."""

    def __init__(self, server_addr, config: TransportConfig | None = None, payload: bytes = b"",
                 nonce: int | None = None, version: int = wp.PROTOCOL_VERSION):
        if len(payload) > wp.MAX_CONNECT_PAYLOAD:
            raise ValueError(f"connect payload is at most {wp.MAX_CONNECT_PAYLOAD} bytes")
        self.server_addr = server_addr
        self.config = config or TransportConfig()
        self.payload = payload
        self.version = version
        self.nonce = int.from_bytes(os.urandom(8), "little") if nonce is None else nonce
        self.state = ClientState.IDLE
        self.connection: Connection | None = None
        self.client_id = -1
        self.accept_payload = b""
        self.deny_reason = ""
        self.dropped: Counter[str] = Counter()
        self._events: list = []
        self._cookie: tuple[int, bytes] | None = None
        self._started = 0.0
        self._last_try = float("-inf")
        self._responses_sent = 0

    @property
    def connected(self) -> bool:
        return self.state == ClientState.CONNECTED

    @property
    def sole_peer(self):
        """The one address this endpoint ever sends to and hears from: a driver may connect its socket to it."""
        return self.server_addr

    def connect(self, now: float) -> None:
        """Start the handshake."""
        if self.state != ClientState.IDLE:
            raise LocalProtocolError("connect() may be called once")
        self.state = ClientState.REQUESTING
        self._started = now

    def send(self, channel: int, data: bytes) -> None:
        conn = self.connection
        if conn is None or self.state != _CONNECTED:
            raise LocalProtocolError("not connected")
        conn.send(channel, data)

    def disconnect(self) -> None:
        """Close: DISCONNECT goes out (redundantly) on the next flush."""
        if self.state == ClientState.CONNECTED:
            self.connection.close(DisconnectReason.CLOSED)
            self._finish(DisconnectReason.CLOSED)
        elif self.state > 0:
            self.state = ClientState.DISCONNECTED

    def events(self) -> list:
        ev = self._events
        if not ev:
            return ev[:0]
        self._events = []
        if self.connection is not None:
            self.connection._events = self._events
        return ev

    # ------------------------------------------------------------------ input

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        """Handle one datagram; anything foreign, malformed or unexpected is dropped and counted."""
        if addr != self.server_addr:
            self.dropped["foreign address"] += 1
            return
        conn = self.connection
        if conn is not None and receive_if_payload(conn, data, now, self.dropped):
            return
        try:
            version, ptype = wp.read_prefix(data)
            if version != wp.PROTOCOL_VERSION and ptype != wp.DENY:
                self.dropped["wrong version"] += 1
            elif ptype == wp.CHALLENGE and self.state == ClientState.REQUESTING:
                nonce, expiry, mac = wp.decode_challenge(data)
                if nonce == self.nonce:
                    self._cookie = (expiry, mac)
                    self.state = ClientState.RESPONDING
                    self._last_try = float("-inf")
                else:
                    self.dropped["wrong nonce"] += 1
            elif ptype == wp.ACCEPT and self.state in (ClientState.REQUESTING, ClientState.RESPONDING):
                nonce, session, client_id, payload = wp.decode_accept(data)
                if nonce != self.nonce:
                    self.dropped["wrong nonce"] += 1
                    return
                self.state = ClientState.CONNECTED
                self.client_id = client_id
                self.accept_payload = payload
                self.connection = self._adopt(Connection(client_id, addr, session, self.config, now, self._events,
                                                         is_server=False))
                if self._responses_sent == 1:
                    # the response → accept round trip seeds the RTT estimate (the first ack refines
                    # it); after a resend we can't tell which copy was answered (Karn's rule): no seed
                    self.connection.stats.add_rtt_sample(now - self._last_try)
                self._events.append(Connected(client_id, addr, payload))
            elif ptype == wp.DENY and self.state in (ClientState.REQUESTING, ClientState.RESPONDING):
                nonce, reason = wp.decode_deny(data)
                if nonce != self.nonce:
                    self.dropped["wrong nonce"] += 1
                    return
                self.state = ClientState.DENIED
                known = reason in ConnectError._value2member_map_ and reason != ConnectError.TIMED_OUT
                code = ConnectError(reason) if known else ConnectError.DENIED  # 0 is ours, never a DENY code
                self.deny_reason = str(code)
                self._events.append(ConnectFailed(code))
            elif ptype == wp.DISCONNECT and conn is not None and self.state == ClientState.CONNECTED:
                wp.decode_disconnect(data, conn.recv_key)
                conn.receive_disconnect()
                self._finish(DisconnectReason.REMOTE_CLOSED)
            else:
                self.dropped["unexpected packet"] += 1
        except WireError as e:
            self.dropped[str(e)] += 1

    def _finish(self, reason: int) -> None:
        self.state = ClientState.DISCONNECTED
        self._events.append(Disconnected(self.client_id, DisconnectReason.of(reason)))

    # ------------------------------------------------------------------ time

    def update(self, now: float) -> None:
        """Handshake timeout and connection liveness."""
        if self.state == _CONNECTED:  # asked first: the state of every flush but the handshake's
            conn = self.connection
            # Connection.end_if_due's questions asked inline first, as the server does: most flushes end nothing
            if conn.closed or conn._last_recv + conn._timeout <= now or conn._assembly:
                reason = conn.end_if_due(now)
                if reason is not None:
                    self._finish(reason)
        elif self.state in (ClientState.REQUESTING, ClientState.RESPONDING):
            if self._started + self.config.connect_timeout <= now:
                self.state = ClientState.CONNECT_TIMED_OUT
                self._events.append(ConnectFailed(ConnectError.TIMED_OUT))

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, object]]:
        out: list = []
        if self.state == _CONNECTED:
            self.connection.datagrams(now, out)
        elif self.state == ClientState.REQUESTING:
            if self._last_try + self.config.connect_retry <= now:
                self._last_try = now
                out.append((wp.encode_request(self.nonce, self.version), self.server_addr))
        elif self.state == ClientState.RESPONDING:
            if self._last_try + self.config.connect_retry <= now:
                self._last_try = now
                expiry, mac = self._cookie
                self._responses_sent += 1
                out.append((wp.encode_response(self.nonce, expiry, mac, self.payload), self.server_addr))
        elif self.connection is not None:
            self.connection.datagrams(now, out)
        return out

    def _live_connections(self) -> list:
        return [self.connection] if self.connection is not None else []

    def get_timer(self) -> float | None:
        if self.state in (ClientState.REQUESTING, ClientState.RESPONDING):
            return min(self._last_try + self.config.connect_retry, self._started + self.config.connect_timeout)
        if self.state == ClientState.CONNECTED:
            return self.connection.next_timer()
        if self.connection is not None and self.connection._disconnects_left:
            return 0.0
        return None
