"""How a Connection's packets are wrapped on the wire: the same acks, channels and fragments inside either

- PlainFraming: the insecure development transport (docs/PROTOCOL.md "Datagrams"): a 4-byte prefix and a
  CRC-32 seeded with the session token. It catches accidents and blind spoofers, nothing more;
- SecureFraming: netcode.io 1.02 payload, keep-alive and disconnect packets (docs/PROTOCOL.md "Secure
  transport"), sealed with ChaCha20-Poly1305 under the connect token's session keys, 64-bit sequences and a
  256-entry replay window, the way yojimbo carries reliable.io inside netcode.io.
"""
from __future__ import annotations

import zlib

from ..security import packets as sp
from ..security.replay import ReplayProtection
from ..wire import packet as wp

_PAYLOAD_PREFIX = wp.PAYLOAD_PREFIX
_pack_check = wp.CHECK.pack
_crc32 = zlib.crc32
_MASK32 = 0xFFFFFFFF


class PlainFraming:
    """Prefix + CRC-32 check (PAYLOAD_HEADER); each direction seeds the check differently, so a datagram
    reflected back at its sender fails."""

    __slots__ = ("send_key", "recv_key", "session")
    secure = False
    # where the PAYLOAD_TAIL (seq, ack, bits, ack delay) starts in a received datagram
    tail_offset = wp.PREFIX.size + wp.CHECK.size

    def __init__(self, session: int, is_server: bool):
        self.session = session
        self.send_key = session if is_server else session ^ _MASK32
        self.recv_key = session ^ _MASK32 if is_server else session

    def seal_payload(self, tail: bytes) -> bytes:
        return _PAYLOAD_PREFIX + _pack_check(_crc32(tail, self.send_key)) + tail

    def disconnect(self, reason: int) -> bytes:
        return wp.encode_disconnect(self.send_key, reason)


class SecureFraming:
    """One session's netcode.io keys, send sequence and replay window."""

    __slots__ = ("send", "recv", "seq", "replay", "client_index", "max_clients")
    secure = True
    tail_offset = 0  # the plaintext starts with the PAYLOAD_TAIL

    def __init__(self, send: sp.PacketKey, recv: sp.PacketKey, *, seq: int = 0, client_index: int = 0,
                 max_clients: int = 0):
        self.send = send
        self.recv = recv
        self.seq = seq
        self.replay = ReplayProtection()
        self.client_index = client_index
        self.max_clients = max_clients

    def _seal(self, ptype: int, data: bytes) -> bytes:
        seq = self.seq
        self.seq = seq + 1
        return self.send.seal(ptype, seq, data)

    def seal_payload(self, tail: bytes) -> bytes:
        seq = self.seq  # _seal, inlined: once per datagram sent
        self.seq = seq + 1
        return self.send.seal(sp.PAYLOAD, seq, tail)

    def keep_alive(self) -> bytes:
        return self._seal(sp.KEEP_ALIVE, sp.encode_keep_alive(self.client_index, self.max_clients))

    def disconnect(self, reason: int) -> bytes:
        # netcode.io's disconnect carries no reason: the peer reports REMOTE_CLOSED
        return self._seal(sp.DISCONNECT, b"")

    def open(self, data: bytes, allowed: frozenset) -> tuple[int, int, bytes]:
        """(type, sequence, plaintext); WireError for anything forged, tampered, replayed or malformed."""
        return self.recv.open(data, self.replay, allowed)
