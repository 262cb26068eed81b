"""The one shape every sans-IO endpoint has, and the base of those built on one transport.

A driver (``netcode.aio.DatagramDriver``, ``netcode.netsim.VirtualNetwork``, the lag simulator) pumps any
``Endpoint`` the same way, aioquic-style: hand it what arrived (``receive_datagram``), let it act on the
clock (``update``), take what it has to send (``datagrams_to_send``), sleep until ``get_timer()``, and
give the application what happened (``events()``: the one way events reach it). Nothing here touches a
socket or reads a clock.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Endpoint(Protocol):
    """What every endpoint implements (transport connections, match servers and clients, bots, probes)."""

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        """A datagram from ``addr`` arrived at ``now``."""

    def update(self, now: float):
        """Act on the clock: timers, resends, ticks, inputs due."""

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, object]]:
        """(bytes, address) pairs to send now."""

    def get_timer(self) -> float | None:
        """When ``update`` next has something to do (None: only when a datagram arrives). Exact: ``update`` and
        ``datagrams_to_send`` at that very ``now`` do what the timer was for (every deadline is tested as
        ``start + interval <= now``, the sum the timer returns), so a driver in virtual time never spins on it."""

    def events(self) -> list:
        """What happened since the last call, for the application (each event once)."""


class TransportEndpoint:
    """An endpoint built on one transport (``self.transport``: a ClientProtocol or ServerProtocol): datagrams
    go to and come from the transport, its timer is the endpoint's, and events queue in ``self._events``.
    Subclasses implement ``update`` and override only what they do differently."""

    transport = None
    _events: list

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        self.transport.receive_datagram(data, addr, now)

    def datagrams_to_send(self, now: float) -> list:
        return self.transport.datagrams_to_send(now)

    def get_timer(self) -> float | None:
        return self.transport.get_timer()

    def events(self) -> list:
        ev, self._events = self._events, []
        return ev

    def defer_acks(self) -> None:
        """Leave received acks to ``settle`` (netcode.protocol.connection.AckSettling)."""
        self.transport.defer_acks()

    def settle(self, now: float) -> None:
        self.transport.settle(now)

    @property
    def sole_peer(self):
        """The transport's one peer, if it has one for good (a client's server): see DatagramDriver.bind."""
        return getattr(self.transport, "sole_peer", None)

    def on_bind(self, address, unix_offset: float) -> None:
        """The driver bound ``address``, and its monotonic ``now`` + ``unix_offset`` is Unix time: what a secure
        transport needs (the address its tokens must name, their expiry in Unix seconds)."""
        hook = getattr(self.transport, "on_bind", None)
        if hook is not None:
            hook(address, unix_offset)
