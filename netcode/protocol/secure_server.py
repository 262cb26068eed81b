"""Sans-IO server of the secure transport: netcode.io 1.02's connection process (STANDARD.md "Server-Side
Connection Process"), then our acks, channels and fragments inside its encrypted payload packets.

After netcode.io's handshake (request -> challenge -> response -> keep-alive) each side's first reliable
message is its connect payload (the client's hello, the server's accept payload): only then does the
application see Connected, exactly as on the development transport. docs/PROTOCOL.md "Secure transport".
"""
from __future__ import annotations

import os

import attrs

from ..security import packets as sp
from ..security.tokens import (DEFAULT_PROTOCOL_ID, KEY_BYTES, TokenError, normalize_address, open_private,
                               read_user_data)
from ..wire.errors import WireError
from .config import TransportConfig
from .connection import Connection, earliest_timer, receive_secure
from .events import Channel, Connected, DisconnectReason, MessageReceived
from .framing import SecureFraming
from .server import ServerProtocol, _host


@attrs.frozen
class Identity:
    """Who a secure client is, as its connect token says: the issuer's 64-bit client id and its user data."""

    client_id: int
    user_data: bytes = attrs.field(repr=False)

    @property
    def fields(self) -> dict:
        """The user data as netcode's convention reads it (netcode.security.read_user_data): name, team, rank..."""
        return read_user_data(self.user_data)


@attrs.frozen
class ServerSecurity:
    """A secure server's settings: the private key it shares with the token issuer, the protocol id, and the
    addresses it answers as (a token must name one of them)."""

    private_key: bytes = attrs.field(repr=False)
    # empty: the address the server binds (a specific one; behind NAT or on 0.0.0.0, give the public one)
    public_addresses: tuple = attrs.field(default=(), converter=lambda a: tuple(normalize_address(x) for x in a))
    protocol_id: int = DEFAULT_PROTOCOL_ID

    def __attrs_post_init__(self):
        if len(self.private_key) != KEY_BYTES:
            raise ValueError(f"the private key is {KEY_BYTES} bytes")


@attrs.define
class _Mapping:
    """An address that sent a valid connection request: its session keys until it responds or times out
    (STANDARD.md's "encryption mapping")."""

    send: sp.PacketKey
    recv: sp.PacketKey
    expires: float
    timeout: int
    token_mac: bytes


_RESPONSE = frozenset((sp.RESPONSE,))
_GLOBAL_SEQUENCE = 1 << 63  # pre-connection packets never share a nonce with a session's (reference netcode.c)


class SecureServerProtocol(ServerProtocol):
    """A ServerProtocol that admits only clients with a valid connect token and seals every packet.

    Before a valid token, nothing is kept and nothing is said; the challenge (333 bytes at most) is smaller
    than the 1078-byte request, so nothing amplifies. A token is used from one address only; a client id
    is connected once; a handshake replayed later changes nothing.
    """

    def __init__(self, security: ServerSecurity, max_clients: int = 64, config: TransportConfig | None = None,
                 accept_payload: bytes = b"", unix_offset: float = 0.0):
        super().__init__(max_clients, config, None, accept_payload)
        self.security = security
        # how the caller's monotonic `now` maps to Unix time (tokens expire in Unix seconds); the asyncio
        # driver sets it, tests choose it
        self.unix_offset = unix_offset
        self._key = security.private_key
        self._pid = security.protocol_id
        self._public = frozenset(security.public_addresses)
        self._challenge = sp.ChallengeSealer(os.urandom(KEY_BYTES))
        self._challenge_seq = 0
        self._global_seq = _GLOBAL_SEQUENCE
        self._mappings: dict[object, _Mapping] = {}
        self._max_mappings = 4 * max_clients  # as the reference's NETCODE_MAX_ENCRYPTION_MAPPINGS
        self._token_uses: dict[bytes, tuple[object, float]] = {}  # token mac -> (address, until when)
        self._token_sweep = 0.0
        self._by_token_client: dict[int, Connection] = {}
        self.identities: dict[int, Identity] = {}
        self._hello_events: dict[int, list] = {}

    def on_bind(self, address, unix_offset: float) -> None:
        """The socket is bound (DatagramDriver): answer as that address unless told otherwise."""
        self.unix_offset = unix_offset
        if not self._public and address[0] not in ("0.0.0.0", "::"):
            self._public = frozenset((normalize_address(address),))

    @property
    def public_addresses(self) -> frozenset:
        return self._public

    # ------------------------------------------------------------------ input

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        """Handle one datagram; anything malformed, forged, replayed or unexpected is dropped and counted."""
        if not data:
            self.dropped["empty datagram"] += 1
            return
        conn = self._by_addr.get(addr)
        if data[0] == sp.REQUEST:
            if conn is not None:
                self.dropped["request from a connected address"] += 1
                return
            try:
                self._on_request(data, addr, now)
            except (WireError, TokenError) as e:
                self.dropped[str(e)] += 1
            return
        if conn is not None:
            ptype = receive_secure(conn, data, now, self.dropped)
            if ptype is None:
                return
            if ptype == sp.DISCONNECT:
                conn.receive_disconnect()
                self._remove(conn, DisconnectReason.REMOTE_CLOSED)
                return
            conn.unconfirmed = False
            if conn.client_id in self._hello:
                self._check_hello(conn, now)
            return
        mapping = self._mappings.get(addr)
        if mapping is None:
            self.dropped["unknown address"] += 1
            return
        try:
            _, _, plain = mapping.recv.open(data, None, _RESPONSE)
            self._on_response(plain, mapping, addr, now)
        except WireError as e:
            self.dropped[str(e)] += 1

    def _on_request(self, data: bytes, addr, now: float) -> None:
        """STANDARD.md "Processing Connection Requests", in its order."""
        unix = now + self.unix_offset
        expires, nonce, sealed = sp.decode_request(data, self._pid, unix)
        private = open_private(sealed, self._pid, expires, nonce, self._key)
        if not self._public.intersection(private.server_addresses):
            raise WireError("token not for this server")
        if private.client_id in self._by_token_client:
            self.handshakes["client id already connected"] += 1
            return
        mac = sealed[-16:]
        self._sweep_token_uses(unix)
        used = self._token_uses.get(mac)
        if used is not None and used[0] != addr:
            self.handshakes["token used from another address"] += 1
            return
        self._token_uses[mac] = (addr, float(expires))
        send = sp.PacketKey(private.server_to_client_key, self._pid)
        if not self._free_ids or self._host_full(addr):
            self.handshakes["denied full"] += 1
            self._reply_global(send, sp.DENIED, b"", addr)
            return
        mapping = self._mappings.get(addr)
        if mapping is None or mapping.token_mac != mac:
            if len(self._mappings) >= self._max_mappings:
                self._expire_mappings(now)
                if len(self._mappings) >= self._max_mappings:
                    self.handshakes["too many handshakes"] += 1
                    return
            timeout = private.timeout_seconds
            mapping = _Mapping(send, sp.PacketKey(private.client_to_server_key, self._pid), 0.0, timeout, mac)
            self._mappings[addr] = mapping
        wait = mapping.timeout if mapping.timeout > 0 else self.config.connect_timeout
        mapping.expires = now + min(wait, self.config.connect_timeout)
        token = self._challenge.seal(self._challenge_seq, private.client_id, private.user_data)
        self._reply_global(mapping.send, sp.CHALLENGE, sp.encode_challenge_data(self._challenge_seq, token), addr)
        self._challenge_seq += 1
        self.handshakes["challenged"] += 1

    def _on_response(self, plain: bytes, mapping: _Mapping, addr, now: float) -> None:
        """STANDARD.md "Processing Connection Response Packets"."""
        cseq, sealed = sp.decode_challenge_data(plain)
        client_id, user_data = self._challenge.open(cseq, sealed)
        if client_id in self._by_token_client:
            self.handshakes["client id already connected"] += 1
            return
        if not self._free_ids or self._host_full(addr):
            self.handshakes["denied full"] += 1
            self._reply_global(mapping.send, sp.DENIED, b"", addr)
            return
        del self._mappings[addr]
        slot = self._free_ids.pop()
        config = self.config
        if mapping.timeout > 0 and mapping.timeout != config.timeout:
            config = attrs.evolve(config, timeout=float(mapping.timeout))  # the token's timeout rules
        framing = SecureFraming(mapping.send, mapping.recv, client_index=slot, max_clients=self.max_clients)
        events: list = []
        conn = self._adopt(Connection(slot, addr, 0, config, now, events, is_server=True, framing=framing,
                                      unconfirmed=True), listed=False)  # control_datagrams flushes it until its hello
        self._hello[slot] = conn
        self._hello_events[slot] = events
        self._by_addr[addr] = conn
        self._by_token_client[client_id] = conn
        self._nonce_of[slot] = client_id
        self._per_host[_host(addr)] += 1
        self.identities[slot] = Identity(client_id, user_data)
        self.handshakes["accepted"] += 1
        self._control.append((framing.keep_alive(), addr))

    def _check_hello(self, conn: Connection, now: float) -> None:
        """Promote a connection whose first reliable message (the client's connect payload) arrived."""
        events = self._hello_events[conn.client_id]
        for i, ev in enumerate(events):
            if type(ev) is MessageReceived and ev.channel == Channel.RELIABLE:
                break
        else:
            return
        slot = conn.client_id
        accept = self.accept_payload_for(self.identities[slot], ev.data, conn.addr)
        if accept is None:  # the application (a host: no such room) refuses it
            self.handshakes["refused by the application"] += 1
            conn.close(DisconnectReason.PROTOCOL)
            self._remove(conn, DisconnectReason.PROTOCOL)
            return
        del self._hello[slot]
        del self._hello_events[slot]
        self.connections[slot] = conn
        self._due.add(conn)
        conn._events = self._events
        try:
            conn.send(Channel.RELIABLE, accept)
        except Exception:  # noqa: BLE001 - a closed connection; update() removes it
            pass
        self._events.append(Connected(slot, conn.addr, ev.data, self.identities[slot]))
        self._events.extend(events[i + 1:])

    def _reply_global(self, key: sp.PacketKey, ptype: int, data: bytes, addr) -> None:
        self._reply(key.seal(ptype, self._global_seq, data), addr, sp.REQUEST_BYTES)
        self._global_seq += 1

    def _sweep_token_uses(self, unix: float) -> None:
        if unix >= self._token_sweep:
            self._token_sweep = unix + 10.0
            for mac in [m for m, (_, until) in self._token_uses.items() if until <= unix]:
                del self._token_uses[mac]

    def _expire_mappings(self, now: float) -> None:
        for addr in [a for a, m in self._mappings.items() if m.expires <= now]:
            del self._mappings[addr]

    # ------------------------------------------------------------------ bookkeeping

    def _remove(self, conn: Connection, reason: int) -> None:
        slot = conn.client_id
        token_client = self._nonce_of.get(slot)
        if self._hello.get(slot) is conn:
            # never promoted: the application never saw it, so it hears of no Disconnected either
            del self._hello[slot]
            del self._hello_events[slot]
            self.connections[slot] = conn  # the base frees the slot, address and host count
            super()._remove(conn, reason)
            self._events.pop()
        elif self.connections.get(slot) is conn:
            super()._remove(conn, reason)
        else:
            return
        if self._by_token_client.get(token_client) is conn:
            del self._by_token_client[token_client]
        self.identities.pop(slot, None)

    def update(self, now: float) -> None:
        """Expire timed-out connections, handshakes that never answered, and hellos that never came."""
        ServerProtocol.update(self, now)  # (not super().update: a generic lookup before every flush in 3.11)
        if self._mappings:
            self._expire_mappings(now)
        if self._hello:  # asked before every flush: no copy of an empty dict
            self._expire_hellos(now)

    def _expire_hellos(self, now: float) -> None:
        deadline = self.config.connect_timeout
        for conn in list(self._hello.values()):
            if conn.closed or conn.timed_out(now):
                conn.close(DisconnectReason.TIMEOUT)
                self._remove(conn, DisconnectReason.TIMEOUT)
            elif conn._created + deadline <= now:  # (the sum _hello_timer returns)
                # in netcode.io terms connected, but it never said hello (e.g. a client that does not speak
                # our connection): told so with disconnect packets, and its slot freed
                conn.close(DisconnectReason.PROTOCOL)
                self._remove(conn, DisconnectReason.PROTOCOL)

    def _live_connections(self) -> list:
        return [*self.connections.values(), *self._hello.values()]

    def control_datagrams(self, now: float) -> list[tuple[bytes, object]]:
        out = super().control_datagrams(now)
        for conn in self._hello.values():  # in netcode.io terms connected, not yet the application's
            conn.datagrams(now, out)
        return out

    def _hello_timer(self, t: float | None) -> float | None:
        """``t`` or the hello connections' earliest timer, whichever is sooner: their own timers, and the
        ``connect_timeout`` within which each must say hello (_expire_hellos)."""
        if self._hello:
            deadline = self.config.connect_timeout
            h = min(earliest_timer(self._hello.values()), min(c._created for c in self._hello.values()) + deadline)
            t = h if t is None else min(t, h)
        return t

    def control_timer(self) -> float | None:
        return self._hello_timer(super().control_timer())

    def get_timer(self) -> float | None:
        t = self._hello_timer(super().get_timer())
        if self._mappings:
            m = min(m.expires for m in self._mappings.values())
            t = m if t is None else min(t, m)
        return t
