"""Sans-IO client of the secure transport: netcode.io 1.02's client state machine (STANDARD.md "Client State
Machine") with a connect token, then our connection inside its encrypted payload packets.

Connected is reported once the server's first reliable message (its accept payload) arrives, after our
own first reliable message (our connect payload): the same events as the development transport's client.
"""
from __future__ import annotations

from collections import Counter

import attrs

from ..security import packets as sp
from ..security.tokens import ConnectToken, TokenError
from ..wire.errors import WireError
from .client import ClientState
from .config import TransportConfig
from .connection import AckSettling, Connection, receive_secure
from .events import (Channel, ConnectError, ConnectFailed, Connected, Disconnected, DisconnectReason,
                     LocalProtocolError, MessageReceived)
from .framing import SecureFraming

_CHALLENGE_OR_DENIED = frozenset((sp.CHALLENGE, sp.DENIED))
_KEEP_ALIVE_OR_DENIED = frozenset((sp.KEEP_ALIVE, sp.DENIED))
_CONNECTED = ClientState.CONNECTED


class SecureClientProtocol(AckSettling):
    """One client connecting with a connect token to the servers it names, first to last."""

    def __init__(self, token: ConnectToken | bytes, config: TransportConfig | None = None, payload: bytes = b"",
                 unix_offset: float = 0.0, via=None):
        # ``via``: send to (and hear from) this address instead of the token's servers: a lag proxy in front
        # of the server, which the token still names
        self.via = via
        self.config = config or TransportConfig()
        self.payload = payload
        self.unix_offset = unix_offset
        self.state = ClientState.IDLE
        self.connection: Connection | None = None
        self.client_id = -1  # our slot on the server (netcode.io's client index)
        self.max_clients = 0
        self.accept_payload = b""
        self.deny_reason = ""
        self.dropped: Counter[str] = Counter()
        self._events: list = []
        self._conn_events: list = []
        self._invalid = ""
        try:
            self.token = token if isinstance(token, ConnectToken) else ConnectToken.from_bytes(bytes(token))
        except TokenError as e:
            self.token = None
            self._invalid = str(e)
        if via is not None and self.token is not None and tuple(via) in self.token.server_addresses:
            self.via = via = None  # one of the token's own servers: no detour, and the others stay in reach
        self._server_index = 0
        self.server_addr = via if via is not None else self.token.server_addresses[0] if self.token else None
        self._send_key = sp.PacketKey(self.token.client_to_server_key, self.token.protocol_id) if self.token else None
        self._recv_key = sp.PacketKey(self.token.server_to_client_key, self.token.protocol_id) if self.token else None
        self._framing: SecureFraming | None = None
        self._seq = 0  # our packet sequence before the session's framing takes it over
        self._challenge: bytes | None = None
        self._started = 0.0
        self._phase_started = 0.0
        self._last_try = float("-inf")
        self._request = sp.encode_request(self.token) if self.token else b""

    def on_bind(self, address, unix_offset: float) -> None:
        self.unix_offset = unix_offset

    @property
    def connected(self) -> bool:
        return self.state == _CONNECTED

    @property
    def sole_peer(self):
        """The one address this client ever talks to, if it has one: its relay, or a token's only server (with
        several, a failed server hands over to the next, so there is none)."""
        if self.via is not None:
            return self.via
        if self.token is not None and len(self.token.server_addresses) == 1:
            return self.server_addr
        return None

    def _timeout(self) -> float:
        t = self.token.timeout_seconds
        return float(t) if t > 0 else self.config.connect_timeout

    def connect(self, now: float) -> None:
        """Start connecting to the token's first server."""
        if self.state != ClientState.IDLE:
            raise LocalProtocolError("connect() may be called once")
        self._started = self._phase_started = now
        if self.token is None:
            self.state = ClientState.DENIED
            self.deny_reason = f"invalid connect token: {self._invalid}"
            self._events.append(ConnectFailed(ConnectError.INVALID_TOKEN))
            return
        self.state = ClientState.REQUESTING

    def send(self, channel: int, data: bytes) -> None:
        conn = self.connection
        if conn is None or self.state != _CONNECTED:
            raise LocalProtocolError("not connected")
        conn.send(channel, data)

    def disconnect(self) -> None:
        """Close: redundant disconnect packets go out on the next flush."""
        if self.connection is not None and self.state in (ClientState.RESPONDING, _CONNECTED):
            self.connection.close(DisconnectReason.CLOSED)
            if self.state == _CONNECTED:
                self._finish(DisconnectReason.CLOSED)
            else:
                self.state = ClientState.DISCONNECTED
        elif self.state > 0:
            self.state = ClientState.DISCONNECTED

    def events(self) -> list:
        ev = self._events
        if not ev:
            return ev[:0]
        self._events = []
        if self.connection is not None and self.state == _CONNECTED:
            self.connection._events = self._events
        return ev

    # ------------------------------------------------------------------ input

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        """Handle one datagram; anything foreign, forged, replayed or unexpected is dropped and counted."""
        if addr != self.server_addr or self.token is None:
            self.dropped["foreign address"] += 1
            return
        conn = self.connection
        if conn is not None:
            ptype = receive_secure(conn, data, now, self.dropped)
            if ptype == sp.DISCONNECT:
                conn.receive_disconnect()
                if self.state == _CONNECTED:
                    self._finish(DisconnectReason.REMOTE_CLOSED)
                else:
                    self._fail(ConnectError.DENIED, "closed by the server before it said hello")
            elif ptype is not None and self.state != _CONNECTED:
                self._check_hello(now)
            return
        try:
            if self.state == ClientState.REQUESTING:
                ptype, _, plain = self._recv_key.open(data, None, _CHALLENGE_OR_DENIED)
                if ptype == sp.CHALLENGE:
                    self._challenge = plain
                    self.state = ClientState.RESPONDING
                    self._phase_started = now
                    self._last_try = float("-inf")
                else:
                    self._denied()
            elif self.state == ClientState.RESPONDING:
                ptype, seq, plain = self._recv_key.open(data, None, _KEEP_ALIVE_OR_DENIED)
                if ptype == sp.DENIED:
                    self._denied()
                    return
                index, max_clients = sp.decode_keep_alive(plain)
                self.client_id, self.max_clients = index, max_clients
                framing = SecureFraming(self._send_key, self._recv_key, seq=self._seq)
                framing.replay.advance(seq)
                conn = self._adopt(Connection(index, addr, 0, self._session_config(), now, self._conn_events,
                                              is_server=False, framing=framing))
                self.connection = conn
                conn.send(Channel.RELIABLE, self.payload)  # our hello: the connect payload
            else:
                self.dropped["unexpected packet"] += 1
        except WireError as e:
            self.dropped[str(e)] += 1

    def _session_config(self) -> TransportConfig:
        t = self.token.timeout_seconds
        if t > 0 and t != self.config.timeout:
            return attrs.evolve(self.config, timeout=float(t))
        return self.config

    def _check_hello(self, now: float) -> None:
        events = self._conn_events
        for i, ev in enumerate(events):
            if type(ev) is MessageReceived and ev.channel == Channel.RELIABLE:
                break
        else:
            return
        self.accept_payload = ev.data
        self.state = _CONNECTED
        rest = events[i + 1:]
        events.clear()
        self.connection._events = self._events
        self._events.append(Connected(self.client_id, self.server_addr, ev.data))
        self._events.extend(rest)

    def _denied(self) -> None:
        self._fail(ConnectError.SERVER_FULL, str(ConnectError.SERVER_FULL))

    def _fail(self, code: ConnectError, words: str) -> None:
        self.state = ClientState.DENIED if code != ConnectError.TIMED_OUT else ClientState.CONNECT_TIMED_OUT
        self.deny_reason = words
        self._events.append(ConnectFailed(code))

    def _next_server(self, now: float, code: ConnectError, words: str) -> None:
        """A failure with this server: try the token's next one, else fail (STANDARD.md)."""
        self._server_index += 1
        if self._server_index < len(self.token.server_addresses) and self.via is None:
            self.server_addr = self.token.server_addresses[self._server_index]
            self.state = ClientState.REQUESTING
            self._phase_started = now
            self._last_try = float("-inf")
            self._challenge = None
            return
        self._fail(code, words)

    def _finish(self, reason: int) -> None:
        self.state = ClientState.DISCONNECTED
        self._events.append(Disconnected(self.client_id, DisconnectReason.of(reason)))

    # ------------------------------------------------------------------ time

    def update(self, now: float) -> None:
        """Token expiry, handshake timeouts (then the next server), and connection liveness."""
        if self.state == _CONNECTED:  # asked first: the state of every flush but the handshake's
            reason = self.connection.end_if_due(now)
            if reason is not None:
                self._finish(reason)
        elif self.state in (ClientState.REQUESTING, ClientState.RESPONDING):
            if self._token_expiry() <= now:
                self._fail(ConnectError.TOKEN_EXPIRED, str(ConnectError.TOKEN_EXPIRED))
            elif self._phase_started + self._timeout() <= now:
                self.connection = None
                self._next_server(now, ConnectError.TIMED_OUT, str(ConnectError.TIMED_OUT))

    def _token_expiry(self) -> float:
        """When (on the endpoint's clock) the token stops being worth a try: its lifetime (expire - create) after
        connect(), and, while requesting, its expire timestamp itself (Unix time less unix_offset; a server would
        refuse it then). Asked by update and get_timer alike, so that the timer wakes the client exactly then."""
        tok = self.token
        t = self._started + (tok.expire_timestamp - tok.create_timestamp)
        if self.state == ClientState.REQUESTING:
            unix_expiry = tok.expire_timestamp - self.unix_offset
            if unix_expiry < t:
                t = unix_expiry
        return t

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq = seq + 1
        return seq

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, object]]:
        out: list = []
        if self.connection is not None:
            self.connection.datagrams(now, out)
        elif self.state == ClientState.REQUESTING:
            if self._last_try + self.config.connect_retry <= now:
                self._last_try = now
                out.append((self._request, self.server_addr))
        elif self.state == ClientState.RESPONDING:
            if self._last_try + self.config.connect_retry <= now:
                self._last_try = now
                out.append((self._send_key.seal(sp.RESPONSE, self._next_seq(), self._challenge), self.server_addr))
        return out

    def _live_connections(self) -> list:
        return [self.connection] if self.connection is not None else []

    def get_timer(self) -> float | None:
        if self.state in (ClientState.REQUESTING, ClientState.RESPONDING):
            t = min(self._phase_started + self._timeout(), self._token_expiry())
            if self.connection is not None:
                return min(t, self.connection.next_timer())
            return min(self._last_try + self.config.connect_retry, t)
        if self.state == _CONNECTED:
            return self.connection.next_timer()
        if self.connection is not None and self.connection._disconnects_left:
            return 0.0
        return None
