"""Stateless connect cookies (the SYN-cookie idea, as in DTLS HelloVerifyRequest and QUIC Retry).

The server keeps no per-address state before a client proves it can receive at its
claimed address: the cookie is a keyed hash of (address, nonce, expiry).
"""
from __future__ import annotations

import hashlib
import hmac

from ..wire.packet import MAC_SIZE


class CookieJar:
    """Mints and checks cookies with a server-local secret."""

    def __init__(self, secret: bytes, lifetime: float):
        if len(secret) < 16:
            raise ValueError("cookie secret must be at least 16 bytes")
        self._secret = secret
        self._lifetime_ms = int(lifetime * 1000)

    def _mac(self, addr, nonce: int, expiry_ms: int) -> bytes:
        msg = repr(addr).encode() + nonce.to_bytes(8, "little") + expiry_ms.to_bytes(8, "little")
        return hmac.new(self._secret, msg, hashlib.sha256).digest()[:MAC_SIZE]

    def mint(self, addr, nonce: int, now: float) -> tuple[int, bytes]:
        expiry = int(now * 1000) + self._lifetime_ms
        return expiry, self._mac(addr, nonce, expiry)

    def check(self, addr, nonce: int, expiry_ms: int, mac: bytes, now: float) -> bool:
        if expiry_ms < int(now * 1000) or expiry_ms > int(now * 1000) + self._lifetime_ms:
            return False
        return hmac.compare_digest(mac, self._mac(addr, nonce, expiry_ms))

    def session_token(self, addr, nonce: int) -> int:
        """A 32-bit token that every later datagram must carry: a spoofer who can't see our
        replies can't guess it."""
        d = hmac.new(self._secret, b"session" + repr(addr).encode() + nonce.to_bytes(8, "little"), hashlib.sha256).digest()
        return int.from_bytes(d[:4], "little")
