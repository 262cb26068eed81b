"""Sans-IO server endpoint: stateless cookie handshake, then one Connection per client."""
from __future__ import annotations

import ipaddress
import os
from collections import Counter

from ..wire import packet as wp
from ..wire.errors import WireError
from .config import TransportConfig
from .connection import AckSettling, Connection, receive_if_payload
from .cookie import CookieJar
from .schedule import DueConnections
from .events import Connected, Disconnected, DisconnectReason, LocalProtocolError

# Pre-handshake replies waiting for the next flush. Transient, not per-address state: the cap only
# bounds a flood between two flushes.
_MAX_CONTROL_REPLIES = 4096


class ServerProtocol(AckSettling):
    """Accepts up to max_clients connections; takes datagrams and time, gives datagrams and events.

    Before a client echoes a valid cookie the server keeps nothing about it and every reply is
    smaller than the datagram that caused it (no amplification).
    """

    def __init__(self, max_clients: int = 64, config: TransportConfig | None = None,
                 secret: bytes | None = None, accept_payload: bytes = b""):
        if not 1 <= max_clients <= 65535:
            raise ValueError("max_clients must be in 1..65535")
        if len(accept_payload) > wp.MAX_CONNECT_PAYLOAD:
            raise ValueError(f"accept_payload is at most {wp.MAX_CONNECT_PAYLOAD} bytes")
        self.max_clients = max_clients
        self.config = config or TransportConfig()
        self.accept_payload = accept_payload
        # A host of many rooms on one transport chooses each connection's accept payload (and room) from
        # who it is and what it asked: accept_for(identity, connect payload, addr) -> bytes, or None to refuse.
        self.accept_for = None
        self._cookies = CookieJar(secret or os.urandom(32), self.config.cookie_lifetime)
        self.connections: dict[int, Connection] = {}
        # the connections a flush must visit, and the others' timers: per-datagram work does not grow with the
        # number of connections (netcode.protocol.schedule)
        self._due = DueConnections()
        self._by_addr: dict[object, Connection] = {}
        self._nonce_of: dict[int, int] = {}
        # (addr, nonce) of every connection accepted while its cookie could still be valid -> when that
        # ends: a CHALLENGE_RESPONSE replayed after the connection closed must not open it again
        self._spent: dict[tuple, float] = {}
        self._spent_sweep = 0.0
        self._free_ids = list(range(max_clients - 1, -1, -1))
        self._per_host: Counter = Counter()  # host -> connections it holds (netcode.protocol.config max_per_host)
        self._events: list = []
        self._control: list = []
        self._closing: list[Connection] = []  # removed, still owing DISCONNECT datagrams
        # admitted, not yet the application's: flushed by control_datagrams (only a secure server has any, until
        # each says hello); asked here so that datagrams_to_send flushes them too
        self._hello: dict[int, Connection] = {}
        self.dropped: Counter[str] = Counter()  # reason -> datagrams dropped
        self.handshakes = Counter()

    def _host_full(self, addr) -> bool:
        """Whether the host of ``addr`` already holds its most connections (TransportConfig.max_per_host)."""
        cap = self.config.max_per_host
        if not cap:
            return False
        host = _host(addr)
        if not self.config.cap_loopback and _is_loopback(host):
            return False
        return self._per_host.get(host, 0) >= cap

    # ------------------------------------------------------------------ input

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        """Handle one datagram; anything malformed or unexpected is dropped and counted."""
        conn = self._by_addr.get(addr)
        # Fast path: a well-formed PAYLOAD from a known peer.
        if conn is not None and receive_if_payload(conn, data, now, self.dropped):
            return
        try:
            version, ptype = wp.read_prefix(data)
        except WireError as e:
            self.dropped[str(e)] += 1
            return
        try:
            if ptype == wp.CONNECT_REQUEST:
                self._on_request(data, addr, version, now)
            elif version != wp.PROTOCOL_VERSION:
                self.dropped["wrong version"] += 1
            elif ptype == wp.CHALLENGE_RESPONSE:
                self._on_response(data, addr, now)
            elif conn is None:
                self.dropped["unknown address"] += 1
            elif ptype == wp.PAYLOAD:
                self.dropped["malformed payload"] += 1
            elif ptype == wp.DISCONNECT:
                wp.decode_disconnect(data, conn.recv_key)
                conn.receive_disconnect()
                self._remove(conn, DisconnectReason.REMOTE_CLOSED)
            else:
                self.dropped["unexpected packet type"] += 1
        except WireError as e:
            self.dropped[str(e)] += 1

    def _reply(self, data: bytes, addr, request_size: int) -> None:
        if len(data) > request_size:  # never amplify
            self.dropped["reply larger than request"] += 1
            return
        if len(self._control) >= _MAX_CONTROL_REPLIES:
            self.dropped["control reply flood"] += 1
            return
        self._control.append((data, addr))

    def _on_request(self, data: bytes, addr, version: int, now: float) -> None:
        nonce = wp.decode_request(data)
        if version != wp.PROTOCOL_VERSION:
            self.handshakes["denied version"] += 1
            self._reply(wp.encode_deny(nonce, wp.DENY_VERSION), addr, len(data))
            return
        if (not self._free_ids or self._host_full(addr)) and addr not in self._by_addr:
            self.handshakes["denied full"] += 1
            self._reply(wp.encode_deny(nonce, wp.DENY_FULL), addr, len(data))
            return
        expiry, mac = self._cookies.mint(addr, nonce, now)
        self.handshakes["challenged"] += 1
        self._reply(wp.encode_challenge(nonce, expiry, mac), addr, len(data))

    def _on_response(self, data: bytes, addr, now: float) -> None:
        nonce, expiry, mac, payload = wp.decode_response(data)
        if not self._cookies.check(addr, nonce, expiry, mac, now):
            self.handshakes["bad cookie"] += 1
            self._reply(wp.encode_deny(nonce, wp.DENY_BAD_COOKIE), addr, len(data))
            return
        conn = self._by_addr.get(addr)
        if conn is not None and self._nonce_of[conn.client_id] == nonce:
            # our ACCEPT was lost: say it again
            self._reply(wp.encode_accept(nonce, conn.session, conn.client_id, conn.accept_payload), addr, len(data))
            return
        key = (addr, nonce)
        if self._spent.get(key, -1.0) > now:
            # this exact handshake already made a connection: a replay (or a very late duplicate), not a new
            # client. Checked before anything is replaced, so a replayed old handshake never cuts the live
            # session of the same address. A real reconnect uses a fresh nonce.
            self.handshakes["replayed response"] += 1
            return
        if conn is not None:
            conn.close(DisconnectReason.REPLACED)
            self._remove(conn, DisconnectReason.REPLACED)
        if self._host_full(addr):
            self.handshakes["denied: host at its cap"] += 1
            self._reply(wp.encode_deny(nonce, wp.DENY_FULL), addr, len(data))
            return
        if not self._free_ids:
            self.handshakes["denied full"] += 1
            self._reply(wp.encode_deny(nonce, wp.DENY_FULL), addr, len(data))
            return
        accept = self.accept_payload_for(None, payload, addr)
        if accept is None:
            self.handshakes["refused by the application"] += 1
            self._reply(wp.encode_deny(nonce, wp.DENY_FULL), addr, len(data))
            return
        client_id = self._free_ids.pop()
        session = self._cookies.session_token(addr, nonce)
        conn = self._adopt(Connection(client_id, addr, session, self.config, now, self._events, is_server=True))
        conn.accept_payload = accept
        self.connections[client_id] = conn
        self._by_addr[addr] = conn
        self._nonce_of[client_id] = nonce
        self._per_host[_host(addr)] += 1
        self.handshakes["accepted"] += 1
        self._spend(key, now)
        self._reply(wp.encode_accept(nonce, session, client_id, accept), addr, len(data))
        self._events.append(Connected(client_id, addr, payload))

    def accept_payload_for(self, identity, payload: bytes, addr) -> bytes | None:
        """The accept payload for a new connection: ``accept_for``'s choice when set, else ``accept_payload``."""
        if self.accept_for is None:
            return self.accept_payload
        accept = self.accept_for(identity, payload, addr)
        if accept is not None and len(accept) > wp.MAX_CONNECT_PAYLOAD:
            raise ValueError(f"accept payload is at most {wp.MAX_CONNECT_PAYLOAD} bytes")
        return accept

    def _spend(self, key: tuple, now: float) -> None:
        """Remember an accepted handshake until its cookie expires (a cookie is valid at most
        cookie_lifetime after it was minted, and it was minted before now)."""
        lifetime = self.config.cookie_lifetime
        if now >= self._spent_sweep:
            self._spent_sweep = now + lifetime
            for k in [k for k, until in self._spent.items() if until <= now]:
                del self._spent[k]
        self._spent[key] = now + lifetime

    def _remove(self, conn: Connection, reason: int) -> None:
        if self.connections.get(conn.client_id) is not conn:
            return
        del self.connections[conn.client_id]
        del self._by_addr[conn.addr]
        host = _host(conn.addr)
        self._per_host[host] -= 1
        if self._per_host[host] <= 0:
            del self._per_host[host]
        del self._nonce_of[conn.client_id]
        self._free_ids.append(conn.client_id)
        self._due.remove(conn)
        self._events.append(Disconnected(conn.client_id, DisconnectReason.of(reason)))
        if conn._disconnects_left:
            self._closing.append(conn)

    # ------------------------------------------------------------------ application side

    def send(self, client_id: int, channel: int, data: bytes) -> None:
        """Queue a message to one client (see Connection.send for errors)."""
        conn = self.connections.get(client_id)
        if conn is None:
            raise LocalProtocolError(f"no client {client_id}")
        conn.send(channel, data)

    def broadcast(self, channel: int, data: bytes) -> None:
        for conn in self.connections.values():
            conn.send(channel, data)

    def disconnect(self, client_id: int) -> None:
        conn = self.connections.get(client_id)
        if conn is not None:
            conn.close(DisconnectReason.CLOSED)
            self._remove(conn, DisconnectReason.CLOSED)

    def events(self) -> list:
        """Take every pending event, oldest first."""
        ev = self._events
        if not ev:
            return []
        # Every connection appends to this same list: hand out a copy and empty it in place, O(events)
        # rather than re-pointing every connection at a new list, O(connections).
        out = ev.copy()
        ev.clear()
        return out

    # ------------------------------------------------------------------ time

    def _adopt(self, conn: Connection, listed: bool = True) -> Connection:
        """A new connection; ``listed``: flushed from now on (a secure server lists one once it is promoted)."""
        AckSettling._adopt(self, conn)
        if listed:
            self._due.add(conn)
        return conn

    def update(self, now: float) -> None:
        """Expire timed-out and broken connections (those touched, or whose timer is due: a connection's timer
        is never later than its timeout)."""
        due = self._due
        timers = due.timers
        if timers and timers[0][0] <= now:  # the heap's earliest timer is due (asked inline: every flush)
            due.collect(now)
        for conn in due.touched:
            # Connection.end_if_due's questions, asked inline first (this runs before every flush): most
            # flushes find no connection ending, and then need neither a copy of the list nor a call per peer.
            if conn.closed or conn._last_recv + conn._timeout <= now or conn._assembly:
                break
        else:
            return
        for conn in list(due.touched):
            reason = conn.end_if_due(now)
            if reason is not None:
                self._remove(conn, reason)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, object]]:
        """Everything due now, as (datagram, addr)."""
        out = self.control_datagrams(now) if self._control or self._closing or self._hello else []
        due = self._due
        timers = due.timers
        if timers and timers[0][0] <= now:  # the heap's earliest timer is due (asked inline: every flush)
            due.collect(now)
        for conn in due.touched:
            conn.datagrams(now, out)
        return out

    def control_datagrams(self, now: float) -> list[tuple[bytes, object]]:
        """What is due besides the established connections' own packets: handshake replies and the
        DISCONNECTs of closed connections (a host of many rooms flushes the connections room by room)."""
        out = self._control
        self._control = []
        if self._closing:
            for conn in self._closing:
                conn.datagrams(now, out)
            self._closing = []
        return out

    def _live_connections(self) -> list:
        return list(self.connections.values())

    def control_timer(self) -> float | None:
        """When control_datagrams (or update, for handshakes) next has work, if ever."""
        return 0.0 if self._control or self._closing else None

    def get_timer(self) -> float | None:
        """When update/datagrams_to_send next have work, if ever."""
        if self._control or self._closing:
            return 0.0
        return self._due.schedule(len(self.connections))


def _host(addr):
    """The host part of an address: the IP of an (ip, port) pair; any other address (virtual networks name
    endpoints freely) is a host of its own."""
    if isinstance(addr, tuple) and len(addr) >= 2 and isinstance(addr[0], str):
        try:
            ipaddress.ip_address(addr[0])
        except ValueError:
            return addr
        return addr[0]
    return addr


def _is_loopback(host) -> bool:
    try:
        return isinstance(host, str) and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
