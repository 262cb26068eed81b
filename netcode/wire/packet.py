"""Datagram layout: a 4-byte prefix, then a packet type's body. See docs/PROTOCOL.md.

Every function here is pure. Decoders raise only WireError.
"""
from __future__ import annotations

import struct
import zlib

from .errors import WireError

PROTOCOL_ID = 0x434E  # "NC" little-endian
PROTOCOL_VERSION = 1
MAX_DATAGRAM = 1200  # QUIC's and netcode.io's safe UDP payload
# A request is padded so that nothing the server says before a valid cookie is larger
# than what it was sent (anti-amplification, as netcode.io's 1078-byte request).
REQUEST_SIZE = 300
MAX_CONNECT_PAYLOAD = 200
MAC_SIZE = 16

# packet types
CONNECT_REQUEST = 1
CHALLENGE = 2
CHALLENGE_RESPONSE = 3
ACCEPT = 4
DENY = 5
PAYLOAD = 6
DISCONNECT = 7

# message kinds inside a PAYLOAD
MSG_RELIABLE = 0
MSG_FRAGMENT = 1
MSG_SEQUENCED = 2
MSG_UNRELIABLE = 3

# deny reasons (netcode.protocol.ConnectError names them for the application)
DENY_FULL = 1
DENY_VERSION = 2
DENY_BAD_COOKIE = 3

PREFIX = struct.Struct("<HBB")  # protocol id, version, packet type
NONCE = struct.Struct("<Q")
CHALLENGE_BODY = struct.Struct("<QQ16s")  # client nonce, cookie expiry (ms), mac
ACCEPT_BODY = struct.Struct("<QIHH")  # client nonce, session token, client id, payload length
DENY_BODY = struct.Struct("<QB")
PAYLOAD_HEADER = struct.Struct("<HBBIHHIH")  # prefix + check, seq, ack, ack bits, ack delay
# the same bytes with the prefix (little-endian protocol id, version, type) read as one 32-bit word: one unpack
# tells a PAYLOAD of this version from anything else (PAYLOAD_PREFIX_WORD) and reads its whole header
PAYLOAD_HEADER_WORDS = struct.Struct("<IIHHIH")
PAYLOAD_HEAD_WORDS = struct.Struct("<II")  # its first two: the prefix word and the check, put before the tail
# seq, ack, ack bits, ack delay (10 µs units): the start of what the check covers
PAYLOAD_TAIL = struct.Struct("<HHIH")
ACK_DELAY_UNIT = 1e-5
CHECK = struct.Struct("<I")
DISCONNECT_BODY = struct.Struct("<IB")  # check, reason
LEN16 = struct.Struct("<H")
MSG_RELIABLE_HDR = struct.Struct("<BHH")  # kind, message id, length
MSG_FRAGMENT_HDR = struct.Struct("<BHBBH")  # kind, message id, index, count, length
MSG_SEQUENCED_HDR = struct.Struct("<BHH")  # kind, sequence, length
MSG_UNRELIABLE_HDR = struct.Struct("<BH")  # kind, length

PAYLOAD_HEADER_SIZE = PAYLOAD_HEADER.size
MAX_MESSAGES_BYTES = MAX_DATAGRAM - PAYLOAD_HEADER_SIZE
# the largest single unfragmented message body that fits one datagram
MAX_UNFRAGMENTED = MAX_MESSAGES_BYTES - MSG_RELIABLE_HDR.size
FRAGMENT_SIZE = MAX_MESSAGES_BYTES - MSG_FRAGMENT_HDR.size
MAX_FRAGMENTS = 255

_PREFIXES = {t: PREFIX.pack(PROTOCOL_ID, PROTOCOL_VERSION, t) for t in range(1, 8)}


def read_prefix(data: bytes) -> tuple[int, int]:
    """Return (version, packet type); raise WireError on a foreign or short datagram."""
    if len(data) < PREFIX.size:
        raise WireError("short datagram")
    if len(data) > MAX_DATAGRAM:
        raise WireError("oversized datagram")
    pid, version, ptype = PREFIX.unpack_from(data)
    if pid != PROTOCOL_ID:
        raise WireError("foreign protocol id")
    if not 1 <= ptype <= 7:
        raise WireError("unknown packet type")
    return version, ptype


def _pad(body: bytes, size: int) -> bytes:
    return body + bytes(size - len(body))


def encode_request(nonce: int, version: int = PROTOCOL_VERSION) -> bytes:
    """CONNECT_REQUEST, padded to REQUEST_SIZE."""
    return _pad(PREFIX.pack(PROTOCOL_ID, version, CONNECT_REQUEST) + NONCE.pack(nonce), REQUEST_SIZE)


def decode_request(data: bytes) -> int:
    if len(data) != REQUEST_SIZE:
        raise WireError("request not padded")
    return NONCE.unpack_from(data, PREFIX.size)[0]


def encode_challenge(nonce: int, expiry_ms: int, mac: bytes) -> bytes:
    return _PREFIXES[CHALLENGE] + CHALLENGE_BODY.pack(nonce, expiry_ms, mac)


def decode_challenge(data: bytes) -> tuple[int, int, bytes]:
    if len(data) != PREFIX.size + CHALLENGE_BODY.size:
        raise WireError("bad challenge size")
    return CHALLENGE_BODY.unpack_from(data, PREFIX.size)


def encode_response(nonce: int, expiry_ms: int, mac: bytes, payload: bytes) -> bytes:
    """CHALLENGE_RESPONSE: echoes the cookie, carries the client's connect payload, padded."""
    if len(payload) > MAX_CONNECT_PAYLOAD:
        raise ValueError(f"connect payload is {len(payload)} bytes, at most {MAX_CONNECT_PAYLOAD}")
    body = _PREFIXES[CHALLENGE_RESPONSE] + CHALLENGE_BODY.pack(nonce, expiry_ms, mac) + LEN16.pack(len(payload)) + payload
    return _pad(body, REQUEST_SIZE)


def decode_response(data: bytes) -> tuple[int, int, bytes, bytes]:
    if len(data) != REQUEST_SIZE:
        raise WireError("response not padded")
    off = PREFIX.size
    nonce, expiry, mac = CHALLENGE_BODY.unpack_from(data, off)
    off += CHALLENGE_BODY.size
    (n,) = LEN16.unpack_from(data, off)
    off += 2
    if n > MAX_CONNECT_PAYLOAD:
        raise WireError("connect payload too long")
    return nonce, expiry, mac, bytes(data[off:off + n])


def encode_accept(nonce: int, session: int, client_id: int, payload: bytes) -> bytes:
    if len(payload) > MAX_CONNECT_PAYLOAD:
        raise ValueError(f"accept payload is {len(payload)} bytes, at most {MAX_CONNECT_PAYLOAD}")
    return _PREFIXES[ACCEPT] + ACCEPT_BODY.pack(nonce, session, client_id, len(payload)) + payload


def decode_accept(data: bytes) -> tuple[int, int, int, bytes]:
    if len(data) < PREFIX.size + ACCEPT_BODY.size:
        raise WireError("short accept")
    nonce, session, client_id, n = ACCEPT_BODY.unpack_from(data, PREFIX.size)
    off = PREFIX.size + ACCEPT_BODY.size
    if len(data) != off + n:
        raise WireError("accept payload length mismatch")
    return nonce, session, client_id, bytes(data[off:])


def encode_deny(nonce: int, reason: int) -> bytes:
    return _PREFIXES[DENY] + DENY_BODY.pack(nonce, reason)


def decode_deny(data: bytes) -> tuple[int, int]:
    if len(data) != PREFIX.size + DENY_BODY.size:
        raise WireError("bad deny size")
    return DENY_BODY.unpack_from(data, PREFIX.size)


def encode_disconnect(session: int, reason: int) -> bytes:
    return _PREFIXES[DISCONNECT] + DISCONNECT_BODY.pack(zlib.crc32(bytes((reason,)), session), reason)


def decode_disconnect(data: bytes, session: int) -> int:
    """The reason of a DISCONNECT for this session; WireError if it is not ours or malformed."""
    if len(data) != PREFIX.size + DISCONNECT_BODY.size:
        raise WireError("bad disconnect size")
    check, reason = DISCONNECT_BODY.unpack_from(data, PREFIX.size)
    if check != zlib.crc32(bytes((reason,)), session):
        raise WireError("bad check")
    return reason


def seal_payload(session: int, seq: int, ack: int, bits: int, ack_delay: int, body: bytes) -> bytes:
    """A PAYLOAD datagram. Its check is CRC-32 of everything after it, seeded with the session
    token: a datagram from anyone who never saw the ACCEPT, or mangled on the way, fails it.
    ack_delay (10 µs units) is how long the newest acked packet waited here, as QUIC's ACK Delay,
    so the peer's RTT excludes our send interval."""
    tail = PAYLOAD_TAIL.pack(seq, ack, bits, ack_delay)
    if body:
        tail += body
    return PAYLOAD_PREFIX + CHECK.pack(zlib.crc32(tail, session)) + tail


def payload_check_ok(data: bytes, session: int) -> bool:
    """True when a PAYLOAD datagram (length already checked) carries this session's check."""
    return CHECK.unpack_from(data, PREFIX.size)[0] == zlib.crc32(memoryview(data)[PREFIX.size + 4:], session)


# The 4 bytes every PAYLOAD datagram starts with, and the same read as one little-endian word (PAYLOAD_HEADER_WORDS).
PAYLOAD_PREFIX = _PREFIXES[PAYLOAD]
PAYLOAD_PREFIX_WORD = int.from_bytes(PAYLOAD_PREFIX, "little")


def encode_reliable(msg_id: int, body: bytes) -> bytes:
    return MSG_RELIABLE_HDR.pack(MSG_RELIABLE, msg_id, len(body)) + body


def encode_fragment(msg_id: int, index: int, count: int, body: bytes) -> bytes:
    return MSG_FRAGMENT_HDR.pack(MSG_FRAGMENT, msg_id, index, count, len(body)) + body


def encode_sequenced(seq: int, body: bytes) -> bytes:
    return MSG_SEQUENCED_HDR.pack(MSG_SEQUENCED, seq, len(body)) + body


def encode_unreliable(body: bytes) -> bytes:
    return MSG_UNRELIABLE_HDR.pack(MSG_UNRELIABLE, len(body)) + body


def decode_in_order(data: bytes, next_id: int, off: int = PAYLOAD_HEADER_SIZE) -> list[bytes] | None:
    """The common case in one pass: the bodies of a PAYLOAD holding only unfragmented reliable
    messages numbered next_id, next_id + 1, ... (no tuples, no second pass over the result).

    None for anything else, including a malformed body: the caller then falls back to
    decode_messages, which reports it. The whole datagram is parsed before anything is returned.
    """
    if type(data) is not bytes:
        return None  # slicing must give bytes; other buffers take the general path
    out = []
    append = out.append
    end = len(data)
    unpack = MSG_RELIABLE_HDR.unpack_from
    while off < end:
        if off + 5 > end:
            return None
        kind, ident, n = unpack(data, off)
        if kind != MSG_RELIABLE or ident != next_id:
            return None
        off += 5
        stop = off + n
        if stop > end:
            return None
        append(data[off:stop])
        off = stop
        next_id = (next_id + 1) & 0xFFFF
    return out


def decode_messages(data: bytes, off: int = PAYLOAD_HEADER_SIZE) -> list[tuple]:
    """Split a PAYLOAD body into message tuples.

    (MSG_RELIABLE, id, body) | (MSG_FRAGMENT, id, index, count, body) |
    (MSG_SEQUENCED, seq, body) | (MSG_UNRELIABLE, body). The whole datagram is
    parsed before anything is returned, so a malformed tail drops the datagram.
    """
    out = []
    end = len(data)
    mv = memoryview(data)
    unpack_rel = MSG_RELIABLE_HDR.unpack_from
    while off < end:
        kind = data[off]
        if kind == MSG_RELIABLE or kind == MSG_SEQUENCED:
            if off + 5 > end:
                raise WireError("truncated message header")
            _, ident, n = unpack_rel(data, off)
            off += 5
            if off + n > end:
                raise WireError("truncated message body")
            out.append((kind, ident, bytes(mv[off:off + n])))
        elif kind == MSG_UNRELIABLE:
            if off + 3 > end:
                raise WireError("truncated message header")
            _, n = MSG_UNRELIABLE_HDR.unpack_from(data, off)
            off += 3
            if off + n > end:
                raise WireError("truncated message body")
            out.append((kind, bytes(mv[off:off + n])))
        elif kind == MSG_FRAGMENT:
            if off + 7 > end:
                raise WireError("truncated fragment header")
            _, ident, index, count, n = MSG_FRAGMENT_HDR.unpack_from(data, off)
            off += 7
            if off + n > end:
                raise WireError("truncated fragment body")
            if count < 2 or index >= count or n == 0:
                raise WireError("bad fragment numbering")
            out.append((kind, ident, index, count, bytes(mv[off:off + n])))
        else:
            raise WireError("unknown message kind")
        off += n
    return out
