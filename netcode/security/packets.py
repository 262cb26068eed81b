"""netcode.io 1.02 packets (STANDARD.md "Packets", "Reading Encrypted Packets", "Challenge Token").

The connection request goes in the clear (its token is sealed for the server); every other packet is
prefix byte | sequence (1..8 bytes, little end first) | ChaCha20-Poly1305 of the type's data, with the
sequence as the nonce and version info + protocol id + prefix byte as associated data. Pure functions and
small stateful sealers; decoders raise only WireError.
"""
from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..wire.errors import WireError
from .replay import _EMPTY, REPLAY_BUFFER, ReplayProtection
from .tokens import (CONNECT_TOKEN_BYTES, MAC_BYTES, PRIVATE_BYTES, TOKEN_NONCE_BYTES, USER_DATA_BYTES,
                     VERSION_INFO, ConnectToken)

REQUEST = 0
DENIED = 1
CHALLENGE = 2
RESPONSE = 3
KEEP_ALIVE = 4
PAYLOAD = 5
DISCONNECT = 6
NUM_TYPES = 7
TYPE_NAMES = ("request", "denied", "challenge", "response", "keep-alive", "payload", "disconnect")

REQUEST_BYTES = 1 + 13 + 8 + 8 + TOKEN_NONCE_BYTES + PRIVATE_BYTES  # 1078
MAX_PAYLOAD_BYTES = 1200
MAX_PACKET_BYTES = 1 + 8 + MAX_PAYLOAD_BYTES + MAC_BYTES
CHALLENGE_TOKEN_BYTES = 300
CHALLENGE_DATA_BYTES = 8 + CHALLENGE_TOKEN_BYTES  # challenge sequence + sealed challenge token
KEEP_ALIVE_BYTES = 8
# the decrypted size each type must have (a payload: 1..MAX_PAYLOAD_BYTES)
_SIZES = {DENIED: 0, CHALLENGE: CHALLENGE_DATA_BYTES, RESPONSE: CHALLENGE_DATA_BYTES, KEEP_ALIVE: KEEP_ALIVE_BYTES,
          DISCONNECT: 0}
_REQUEST_HEAD = struct.Struct("<B13sQQ24s")
_U64 = struct.Struct("<Q")
_KEEP_ALIVE = struct.Struct("<II")
_nonce = struct.Struct("<IQ").pack  # (0, sequence)
_pack_u64 = _U64.pack
_PREFIX_BYTE = [bytes((p,)) for p in range(256)]
# Looked up, not computed, on every packet: CPython 3.11 specialises indexing a tuple but not a shift, an and or an
# or, whose generic paths are cold code each time the process wakes for a datagram.
_PREFIX_FIELDS = tuple((p >> 4, p & 0xF) for p in range(256))  # prefix byte -> (sequence bytes, packet type)
_SEQ_BYTES = tuple(max(1, (b + 7) // 8) for b in range(65))  # a sequence's bit length -> the bytes it is sent in
_from_bytes = int.from_bytes
_REPLAY_MASK = REPLAY_BUFFER - 1


def nonce_of(seq: int) -> bytes:
    """The 96-bit nonce: four zero bytes, then the 64-bit sequence little-endian."""
    return _nonce(0, seq)


def sequence_bytes(seq: int) -> int:
    """Bytes the sequence needs, 1..8 (0 needs one)."""
    return _SEQ_BYTES[seq.bit_length()]


def _ad_base(protocol_id: int) -> bytes:
    return VERSION_INFO + _U64.pack(protocol_id)


# ------------------------------------------------------------------ connection request (in the clear)

def encode_request(token: ConnectToken) -> bytes:
    """The 1078-byte connection request: version, protocol id, expiry, nonce and the sealed private token."""
    return _REQUEST_HEAD.pack(REQUEST, VERSION_INFO, token.protocol_id, token.expire_timestamp,
                              token.nonce) + token.private_data


def decode_request(data: bytes, protocol_id: int, unix_now: float) -> tuple[int, bytes, bytes]:
    """(expire timestamp, nonce, sealed private token) of a request for ``protocol_id`` not yet expired;
    WireError otherwise, checked in STANDARD.md's order, cheapest first."""
    if len(data) != REQUEST_BYTES:
        raise WireError("request: wrong size")
    _, version, pid, expires, nonce = _REQUEST_HEAD.unpack_from(data)
    if version != VERSION_INFO:
        raise WireError("request: wrong version info")
    if pid != protocol_id:
        raise WireError("request: wrong protocol id")
    if expires <= unix_now:
        raise WireError("request: token expired")
    return expires, nonce, bytes(data[_REQUEST_HEAD.size:])


# ------------------------------------------------------------------ encrypted packets

class PacketKey:
    """One direction of one session: its ChaCha20-Poly1305 key, sealing or opening packets of one protocol id."""

    __slots__ = ("aead", "ad", "key")

    def __init__(self, key: bytes, protocol_id: int):
        self.key = key
        self.aead = ChaCha20Poly1305(key)
        base = _ad_base(protocol_id)
        self.ad = [base + bytes((p,)) for p in range(256)]  # associated data by prefix byte

    def seal(self, ptype: int, seq: int, data: bytes) -> bytes:
        """A whole packet of type ``ptype`` with sequence ``seq``."""
        n = _SEQ_BYTES[seq.bit_length()]
        prefix = n * 16 + ptype
        return _PREFIX_BYTE[prefix] + _pack_u64(seq)[:n] + self.aead.encrypt(_nonce(0, seq), data, self.ad[prefix])

    def open(self, data: bytes, replay: ReplayProtection | None, allowed: frozenset) -> tuple[int, int, bytes]:
        """(type, sequence, plaintext) of an encrypted packet; WireError in STANDARD.md's order: size, type,
        sequence bytes, replay, decryption, then the type's size. The replay window advances only after a
        packet decrypted. (Inlined: this runs for every packet received.)"""
        size = len(data)
        if size < 18:
            raise WireError("packet too small")
        if size > MAX_PACKET_BYTES:
            raise WireError("packet too large")
        prefix = data[0]
        n, ptype = _PREFIX_FIELDS[prefix]
        if ptype not in allowed:
            raise WireError("bad packet type" if ptype >= NUM_TYPES or ptype == REQUEST
                            else f"{TYPE_NAMES[ptype]} not expected")
        if not 1 <= n <= 8:
            raise WireError("bad sequence bytes")
        if size < 17 + n:
            raise WireError("packet too small")
        seq = _from_bytes(data[1:1 + n], "little")
        # (an if, not protected = ... and ...: 3.11 specialises a comparison only where a jump follows it)
        if replay is not None and ptype >= KEEP_ALIVE:  # keep-alive, payload, disconnect
            protected = True
            if seq + REPLAY_BUFFER <= replay.most_recent:
                raise WireError("replayed packet")
            seen = replay.received[seq & _REPLAY_MASK]
            if seen >= seq and seen != _EMPTY:  # (the small comparison first: it specialises, _EMPTY's is generic)
                raise WireError("replayed packet")
        else:
            protected = False
        try:
            plain = self.aead.decrypt(_nonce(0, seq), data[1 + n:], self.ad[prefix])
        except InvalidTag:
            raise WireError("packet does not decrypt") from None
        if protected:
            if seq > replay.most_recent:
                replay.most_recent = seq
            replay.received[seq & _REPLAY_MASK] = seq
        if ptype == PAYLOAD:
            if not 1 <= len(plain) <= MAX_PAYLOAD_BYTES:
                raise WireError("bad payload size")
        elif len(plain) != _SIZES[ptype]:
            raise WireError(f"bad {TYPE_NAMES[ptype]} size")
        return ptype, seq, plain


def encode_keep_alive(client_index: int, max_clients: int) -> bytes:
    return _KEEP_ALIVE.pack(client_index, max_clients)


def decode_keep_alive(plain: bytes) -> tuple[int, int]:
    return _KEEP_ALIVE.unpack(plain)


def encode_challenge_data(challenge_seq: int, sealed_token: bytes) -> bytes:
    """The data of a challenge or response packet: challenge sequence, then the sealed challenge token."""
    return _U64.pack(challenge_seq) + sealed_token


def decode_challenge_data(plain: bytes) -> tuple[int, bytes]:
    return _U64.unpack_from(plain)[0], bytes(plain[8:])


# ------------------------------------------------------------------ challenge token

class ChallengeSealer:
    """Seals and opens challenge tokens with a key the server makes at start (STANDARD.md "Challenge Token")."""

    __slots__ = ("aead",)

    def __init__(self, key: bytes):
        self.aead = ChaCha20Poly1305(key)

    def seal(self, seq: int, client_id: int, user_data: bytes) -> bytes:
        plain = (_U64.pack(client_id) + user_data.ljust(USER_DATA_BYTES, b"\0")).ljust(
            CHALLENGE_TOKEN_BYTES - MAC_BYTES, b"\0")
        return self.aead.encrypt(nonce_of(seq), plain, None)

    def open(self, seq: int, sealed: bytes) -> tuple[int, bytes]:
        """(client id, user data); WireError if it was not sealed by this server with this sequence."""
        if len(sealed) != CHALLENGE_TOKEN_BYTES:
            raise WireError("bad challenge token size")
        try:
            plain = self.aead.decrypt(nonce_of(seq), sealed, None)
        except InvalidTag:
            raise WireError("challenge token does not decrypt") from None
        return _U64.unpack_from(plain)[0], bytes(plain[8:8 + USER_DATA_BYTES])


__all__ = ["REQUEST", "DENIED", "CHALLENGE", "RESPONSE", "KEEP_ALIVE", "PAYLOAD", "DISCONNECT", "REQUEST_BYTES",
           "MAX_PAYLOAD_BYTES", "PacketKey", "ChallengeSealer", "encode_request", "decode_request",
           "CONNECT_TOKEN_BYTES"]
