"""Events the sans-IO endpoints hand to the application."""
from __future__ import annotations

import enum
from typing import NamedTuple

import attrs


class Channel:
    """Channel numbers: how a message is delivered."""

    RELIABLE = 0  # resent until acked, exactly once, in order; fragmented when large
    SEQUENCED = 1  # unreliable, but never delivered after a newer one
    UNRELIABLE = 2  # fire and forget
    ALL = (0, 1, 2)


class MessageReceived(NamedTuple):
    """One application message. A NamedTuple: it is made once per message on the hot path."""

    client_id: int
    channel: int
    data: bytes


@attrs.frozen
class Connected:
    """The handshake completed. On the server, a client joined; on the client, we are in."""

    client_id: int
    addr: object
    payload: bytes
    # secure transport: who the connect token says the client is (netcode.security.Identity); None in the
    # insecure development transport, where a client is only its address
    identity: object = None


class DisconnectReason(enum.IntEnum):
    """Why a connection ended (the Disconnected event; codes as on the wire). ``str()`` gives it in words."""

    CLOSED = 1  # the local application closed
    REMOTE_CLOSED = 2
    TIMEOUT = 3
    REPLACED = 4  # the same address connected again with a new nonce
    PROTOCOL = 5  # the peer broke the protocol (e.g. an oversized reassembly)

    def __str__(self) -> str:
        return _DISCONNECT_WORDS[self]

    @classmethod
    def of(cls, code: int) -> DisconnectReason:
        """The reason for a code (an unknown one reads as CLOSED)."""
        try:
            return cls(code)
        except ValueError:
            return cls.CLOSED


_DISCONNECT_WORDS = {DisconnectReason.CLOSED: "closed", DisconnectReason.REMOTE_CLOSED: "closed by peer",
                     DisconnectReason.TIMEOUT: "timed out", DisconnectReason.REPLACED: "replaced by a new connection",
                     DisconnectReason.PROTOCOL: "protocol error"}


class ConnectError(enum.IntEnum):
    """Why a handshake failed (the ConnectFailed event): timed out, or the server's DENY code (wire values)."""

    TIMED_OUT = 0
    SERVER_FULL = 1
    WRONG_VERSION = 2
    BAD_COOKIE = 3
    # secure transport (netcode.io client states -6 and -5): the token expired before we got in, or can't be read
    TOKEN_EXPIRED = 6
    INVALID_TOKEN = 5
    DENIED = 255  # a DENY code this side does not know (the secure transport's "denied" is always "full")

    def __str__(self) -> str:
        return _CONNECT_WORDS[self]


_CONNECT_WORDS = {ConnectError.TIMED_OUT: "connect timed out", ConnectError.SERVER_FULL: "server full",
                  ConnectError.WRONG_VERSION: "wrong protocol version",
                  ConnectError.BAD_COOKIE: "bad or expired cookie", ConnectError.DENIED: "denied",
                  ConnectError.TOKEN_EXPIRED: "connect token expired", ConnectError.INVALID_TOKEN: "invalid connect token"}


@attrs.frozen
class Disconnected:
    """A connection ended (timeout, closed by either side, replaced) — terminal for that client_id.
    Compare ``reason`` with DisconnectReason members; ``str(reason)`` says it in words."""

    client_id: int
    reason: DisconnectReason


@attrs.frozen
class ConnectFailed:
    """The client's handshake failed: denied by the server or timed out. ``str(reason)`` in words."""

    reason: ConnectError


class LocalProtocolError(Exception):
    """The application misused the API (e.g. sent on a closed connection, message too large)."""


class SendQueueFull(LocalProtocolError):
    """The reliable send queue is at its limit: back off until the peer acknowledges."""
