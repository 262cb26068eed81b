"""Connect tokens (netcode.io 1.02 STANDARD.md, "Connect Token").

A backend that shares a 32-byte private key with the servers issues a token per client: a public part the
client reads (server addresses, the two session keys, timeouts) and a private part sealed with
XChaCha20-Poly1305 that only a server can open (client id, the same addresses and keys, 256 bytes of user
data). The client sends the private part in its connection request; the server believes nothing else.
"""
from __future__ import annotations

import ipaddress
import os
import struct

import attrs
import msgpack
from nacl.bindings import (crypto_aead_xchacha20poly1305_ietf_decrypt,
                           crypto_aead_xchacha20poly1305_ietf_encrypt)
from nacl.exceptions import CryptoError

VERSION_INFO = b"NETCODE 1.02\x00"  # 13 bytes, with its null terminator
CONNECT_TOKEN_BYTES = 2048
PRIVATE_BYTES = 1024
USER_DATA_BYTES = 256
KEY_BYTES = 32
TOKEN_NONCE_BYTES = 24
MAC_BYTES = 16
MAX_SERVERS = 32
ADDRESS_IPV4 = 1
ADDRESS_IPV6 = 2
# A protocol id names one game/application: a server ignores requests for any other. netcode's own default
# ("netcode" + version 1); a deployment may choose its own (netcode token/serve --protocol-id).
DEFAULT_PROTOCOL_ID = int.from_bytes(b"netcode\x01", "little")

_PUBLIC_HEAD = struct.Struct("<13sQQQ24s")  # version, protocol id, create, expire, nonce
_PRIVATE_HEAD = struct.Struct("<QiI")  # client id, timeout seconds, number of addresses
_COUNTS = struct.Struct("<iI")  # timeout seconds, number of addresses
_IPV4 = struct.Struct("<B4BH")
_IPV6 = struct.Struct("<B8HH")
_AD = struct.Struct("<13sQQ")


class TokenError(ValueError):
    """A connect token that can't be read, opened or used (one line, safe to show)."""


Address = tuple  # (host, port): host an IPv4 or IPv6 literal


def normalize_address(addr) -> tuple[str, int]:
    host, port = addr[0], int(addr[1])
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise TokenError(f"server address {host!r} is not an IPv4 or IPv6 literal") from None
    if not 0 <= port <= 0xFFFF:
        raise TokenError(f"port {port} out of range")
    return str(ip), port


def write_addresses(addresses) -> bytes:
    """[count] then each address, as STANDARD.md writes them (IPv6 as eight little-endian uint16s)."""
    out = [struct.pack("<I", len(addresses))]
    for host, port in addresses:
        ip = ipaddress.ip_address(host)
        if ip.version == 4:
            out.append(_IPV4.pack(ADDRESS_IPV4, *ip.packed, port))
        else:
            out.append(_IPV6.pack(ADDRESS_IPV6, *struct.unpack(">8H", ip.packed), port))
    return b"".join(out)


def read_addresses(data: bytes, off: int) -> tuple[tuple[tuple[str, int], ...], int]:
    """The address list at ``off`` (its count read first); raises TokenError on a bad count or type."""
    try:
        (n,) = struct.unpack_from("<I", data, off)
        off += 4
        if not 1 <= n <= MAX_SERVERS:
            raise TokenError(f"{n} server addresses (1..{MAX_SERVERS})")
        out = []
        for _ in range(n):
            kind = data[off]
            if kind == ADDRESS_IPV4:
                _, a, b, c, d, port = _IPV4.unpack_from(data, off)
                out.append((f"{a}.{b}.{c}.{d}", port))
                off += _IPV4.size
            elif kind == ADDRESS_IPV6:
                fields = _IPV6.unpack_from(data, off)
                out.append((str(ipaddress.IPv6Address(struct.pack(">8H", *fields[1:9]))), fields[9]))
                off += _IPV6.size
            else:
                raise TokenError(f"address type {kind} (1 = IPv4, 2 = IPv6)")
    except (struct.error, IndexError):
        raise TokenError("truncated address list") from None
    return tuple(out), off


@attrs.frozen
class PrivateToken:
    """What only the servers can read: who the client is and the keys of its session."""

    client_id: int
    timeout_seconds: int
    server_addresses: tuple
    client_to_server_key: bytes
    server_to_client_key: bytes
    user_data: bytes

    def to_bytes(self) -> bytes:
        """The 1024-byte plaintext (sealed into the first 1008 bytes plus a 16-byte tag)."""
        if len(self.user_data) > USER_DATA_BYTES:
            raise TokenError(f"user data is {len(self.user_data)} bytes, at most {USER_DATA_BYTES}")
        body = (struct.pack("<Qi", self.client_id, self.timeout_seconds) + write_addresses(self.server_addresses)
                + self.client_to_server_key + self.server_to_client_key
                + self.user_data.ljust(USER_DATA_BYTES, b"\0"))
        return body.ljust(PRIVATE_BYTES - MAC_BYTES, b"\0")

    @classmethod
    def from_bytes(cls, data: bytes) -> "PrivateToken":
        client_id, timeout = struct.unpack_from("<Qi", data)
        addresses, off = read_addresses(data, 12)
        if off + 2 * KEY_BYTES + USER_DATA_BYTES > PRIVATE_BYTES - MAC_BYTES:
            raise TokenError("private token overflows")
        c2s = bytes(data[off:off + KEY_BYTES])
        s2c = bytes(data[off + KEY_BYTES:off + 2 * KEY_BYTES])
        user = bytes(data[off + 2 * KEY_BYTES:off + 2 * KEY_BYTES + USER_DATA_BYTES])
        return cls(client_id, timeout, addresses, c2s, s2c, user)


def private_ad(protocol_id: int, expire_timestamp: int) -> bytes:
    """Associated data of the private token: version info, protocol id, expire timestamp."""
    return _AD.pack(VERSION_INFO, protocol_id, expire_timestamp)


def seal_private(private: PrivateToken, protocol_id: int, expire_timestamp: int, nonce: bytes, key: bytes) -> bytes:
    return crypto_aead_xchacha20poly1305_ietf_encrypt(private.to_bytes(), private_ad(protocol_id, expire_timestamp),
                                                      nonce, key)


def open_private(sealed: bytes, protocol_id: int, expire_timestamp: int, nonce: bytes, key: bytes) -> PrivateToken:
    """Open and read a sealed private token; TokenError if it was not sealed with ``key`` for these values."""
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(bytes(sealed), private_ad(protocol_id, expire_timestamp),
                                                          bytes(nonce), key)
    except CryptoError:
        raise TokenError("connect token does not open with this key") from None
    return PrivateToken.from_bytes(plain)


@attrs.frozen
class ConnectToken:
    """What a client holds: 2048 bytes on the wire (ConnectToken.to_bytes / from_bytes)."""

    protocol_id: int
    create_timestamp: int
    expire_timestamp: int
    nonce: bytes
    private_data: bytes  # 1024 sealed bytes, opaque to the client
    timeout_seconds: int
    server_addresses: tuple
    client_to_server_key: bytes
    server_to_client_key: bytes

    def to_bytes(self) -> bytes:
        body = (_PUBLIC_HEAD.pack(VERSION_INFO, self.protocol_id, self.create_timestamp, self.expire_timestamp,
                                  self.nonce) + self.private_data
                + struct.pack("<i", self.timeout_seconds) + write_addresses(self.server_addresses)
                + self.client_to_server_key + self.server_to_client_key)
        return body.ljust(CONNECT_TOKEN_BYTES, b"\0")

    @classmethod
    def from_bytes(cls, data: bytes) -> "ConnectToken":
        """Read a token as a client does (STANDARD.md "Request Connect Token"): TokenError when invalid."""
        if len(data) != CONNECT_TOKEN_BYTES:
            raise TokenError(f"a connect token is {CONNECT_TOKEN_BYTES} bytes, not {len(data)}")
        version, pid, created, expires, nonce = _PUBLIC_HEAD.unpack_from(data)
        if version != VERSION_INFO:
            raise TokenError(f"not a netcode 1.02 connect token (version {version.rstrip(bytes(1))!r})")
        if created > expires:
            raise TokenError("connect token was created after it expires")
        off = _PUBLIC_HEAD.size
        private = bytes(data[off:off + PRIVATE_BYTES])
        off += PRIVATE_BYTES
        (timeout,) = struct.unpack_from("<i", data, off)
        addresses, off = read_addresses(data, off + 4)
        c2s = bytes(data[off:off + KEY_BYTES])
        s2c = bytes(data[off + KEY_BYTES:off + 2 * KEY_BYTES])
        return cls(pid, created, expires, bytes(nonce), private, timeout, addresses, c2s, s2c)


def issue_token(private_key: bytes, client_id: int, server_addresses, now: float, *,
                protocol_id: int = DEFAULT_PROTOCOL_ID, expire_seconds: int = 30, timeout_seconds: int = 5,
                user_data: bytes = b"", nonce: bytes | None = None,
                keys: tuple[bytes, bytes] | None = None) -> ConnectToken:
    """A connect token for ``client_id`` to any of ``server_addresses`` ((host, port) pairs, in the order the
    client tries them), created at Unix time ``now``. Fresh random session keys and nonce unless given (test
    vectors give them)."""
    if len(private_key) != KEY_BYTES:
        raise TokenError(f"the private key is {KEY_BYTES} bytes, not {len(private_key)}")
    if not 0 <= client_id < 1 << 64:
        raise TokenError("client id is a 64-bit unsigned integer")
    addresses = tuple(normalize_address(a) for a in server_addresses)
    if not 1 <= len(addresses) <= MAX_SERVERS:
        raise TokenError(f"a token names 1..{MAX_SERVERS} server addresses, not {len(addresses)}")
    if expire_seconds < 0:
        raise TokenError("expire_seconds must be >= 0")
    created = int(now)
    expires = created + int(expire_seconds)
    nonce = os.urandom(TOKEN_NONCE_BYTES) if nonce is None else nonce
    c2s, s2c = keys if keys is not None else (os.urandom(KEY_BYTES), os.urandom(KEY_BYTES))
    private = PrivateToken(client_id, timeout_seconds, addresses, c2s, s2c, user_data)
    sealed = seal_private(private, protocol_id, expires, nonce, private_key)
    return ConnectToken(protocol_id, created, expires, nonce, sealed, timeout_seconds, addresses, c2s, s2c)


def pack_user_data(fields: dict) -> bytes:
    """netcode's user data convention: one msgpack map (name, team, rank, ...) zero-padded to 256 bytes."""
    data = msgpack.packb(fields)
    if len(data) > USER_DATA_BYTES:
        raise TokenError(f"user data packs to {len(data)} bytes, at most {USER_DATA_BYTES}")
    return data.ljust(USER_DATA_BYTES, b"\0")


def read_user_data(data: bytes) -> dict:
    """The map pack_user_data wrote ({} for anything else: user data is the issuer's to define)."""
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=USER_DATA_BYTES)
    try:
        unpacker.feed(data)
        value = next(unpacker)
    except Exception:  # noqa: BLE001 - any undecodable user data is simply not ours
        return {}
    return value if isinstance(value, dict) else {}
