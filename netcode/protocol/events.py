"""Events the sans-IO endpoints hand to the application."""
from __future__ import annotations

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


@attrs.frozen
class Disconnected:
    """A connection ended (timeout, closed by either side, replaced) — terminal for that client_id."""

    client_id: int
    reason: str


@attrs.frozen
class ConnectFailed:
    """The client's handshake failed: denied by the server (with its reason) or timed out."""

    reason: str


class DisconnectReason:
    """Reasons carried by Disconnected and the DISCONNECT packet."""

    CLOSED = 1  # the local application closed
    REMOTE_CLOSED = 2
    TIMEOUT = 3
    REPLACED = 4  # the same address connected again with a new nonce
    PROTOCOL = 5  # the peer broke the protocol (e.g. an oversized reassembly)
    NAMES = {1: "closed", 2: "closed by peer", 3: "timed out", 4: "replaced by a new connection", 5: "protocol error"}


class LocalProtocolError(Exception):
    """The application misused the API (e.g. sent on a closed connection, message too large)."""


class SendQueueFull(LocalProtocolError):
    """The reliable send queue is at its limit: back off until the peer acknowledges."""
