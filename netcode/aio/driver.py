"""The only code that touches sockets and the clock: pumps a sans-IO endpoint over an asyncio datagram socket.

A request/response endpoint (a client, an echo) answers each datagram as it is read, before the loop reads
the next: the peer starts on the first answer while we work on the second, so the two processes overlap
instead of taking turns. A tick-driven server (``flush_on_receive=False``) only takes datagrams in and
answers at its timer.
"""
from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import time
from typing import Callable, Iterator

Handler = Callable[[list, float], None]


class _Protocol(asyncio.DatagramProtocol):
    """Hands each datagram straight to the driver (no queue, no task switch per datagram)."""

    def __init__(self):
        self.driver: "DatagramDriver | None" = None
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list = []  # datagrams that arrived before the driver started
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        d = self.driver
        if d is None:
            self.pending.append((data, addr))
        else:
            d._on_datagram(data, addr)

    def error_received(self, exc):
        # e.g. ECONNREFUSED after an ICMP port unreachable: UDP has no connection to lose
        if self.driver is not None:
            self.driver.errors += 1

    def connection_lost(self, exc):
        self.closed = True


class CallbackProtocol(asyncio.DatagramProtocol):
    """A UDP socket whose every datagram goes to one function; socket errors are counted, not raised
    (e.g. ICMP port unreachable: UDP has no connection to lose). For many lightweight sockets (bots)
    that need no driver of their own."""

    __slots__ = ("on_datagram", "transport", "errors")

    def __init__(self, on_datagram: Callable[[bytes, tuple], None]):
        self.on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None
        self.errors = 0

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.on_datagram(data, addr)

    def error_received(self, exc):
        self.errors += 1


SOCKET_BUFFER = 4 << 20  # bytes asked for each way: a tick's burst of datagrams must not overflow the kernel's


def grow_buffers(sock, size: int) -> tuple[int, int]:
    """Ask the OS for ``size``-byte receive and send buffers (the default ~200 KB drops part of a burst of a few
    hundred datagrams); returns what it granted (Linux reports twice the usable size, capped by rmem_max)."""
    import socket

    got = []
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, size)
        except OSError:
            pass  # the OS said no: keep its default
        try:
            got.append(sock.getsockopt(socket.SOL_SOCKET, opt))
        except OSError:
            got.append(0)
    return got[0], got[1]


class DatagramDriver:
    """Runs one ServerProtocol or ClientProtocol on one UDP socket.

    With ``flush_on_receive`` each datagram is handed to the endpoint and answered at once (events to the
    handler, what they caused sent, the acks it carried settled after that); otherwise (a timer-driven server)
    each goes straight into the endpoint and waits for the timer's flush. Datagrams leave with synchronous
    ``sendto``.
    """

    def __init__(self, endpoint, stream, handler: Handler | None = None, clock: Callable[[], float] = time.monotonic,
                 flush_on_receive: bool = True, on_flush: Callable[[float], None] | None = None):
        self.endpoint = endpoint
        self.stream = stream  # the _Protocol (its .transport is the socket)
        self.handler = handler
        self.clock = clock
        # A tick-driven server answers at its next tick, not per datagram: with hundreds of clients a
        # flush per arriving input would cost more than the tick itself.
        self.flush_on_receive = flush_on_receive
        self.on_flush = on_flush  # told each flush's duration (seconds), e.g. to time server ticks
        # Answer first, account later: a driver that flushes right after it reads has the endpoint leave the
        # acks it received to settle(), called once the answer is sent (netcode.protocol.connection.AckSettling).
        # Their bookkeeping then overlaps the peer reading our answer instead of delaying it.
        self._settle = getattr(endpoint, "settle", None) if flush_on_receive else None
        if self._settle is not None:
            endpoint.defer_acks()
        self.errors = 0  # socket errors (e.g. ICMP port unreachable) survived
        self.buffers = (0, 0)  # the socket's receive and send buffer sizes, as the OS granted them
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # the clock time self._timer fires at
        self._flush_handle: asyncio.Handle | None = None  # a flush scheduled with call_soon
        self._sendto = None  # the socket's sendto, bound at the first flush
        self._peer = None  # the address the socket is connected to (bind), if it is
        self.misaddressed = 0  # datagrams for another address than the connected socket's peer: not sent
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._closed = False

    @classmethod
    async def bind(cls, endpoint, host: str = "127.0.0.1", port: int = 0, handler: Handler | None = None,
                   buffer_bytes: int = SOCKET_BUFFER, connect: bool = True, **kw):
        """Bind ``host``:``port`` for ``endpoint``. An endpoint with a ``sole_peer`` (a client and its server)
        gets its socket connected to that address unless ``connect`` is False: the kernel then keeps the
        route instead of looking it up for every datagram sent, and drops datagrams from anyone else before
        they wake us (connect(2) on a UDP socket, as the bare-UDP client of `netcode bench transport` always
        was; on loopback, interleaved ping-pong runs measured our RTT about 3 % lower connected)."""
        loop = asyncio.get_running_loop()
        peer = _connectable(host, getattr(endpoint, "sole_peer", None)) if connect else None
        transport, proto = await loop.create_datagram_endpoint(
            _Protocol, local_addr=(host, port), remote_addr=None if peer is None else tuple(peer))
        driver = cls(endpoint, proto, handler, **kw)
        driver._peer = peer
        on_bind = getattr(endpoint, "on_bind", None)
        if on_bind is not None:  # a secure transport: the address its tokens name, and Unix time for their expiry
            on_bind(transport.get_extra_info("sockname")[:2], time.time() - loop.time())
        driver.buffers = grow_buffers(transport.get_extra_info("socket"), buffer_bytes)
        return driver

    @property
    def address(self) -> tuple[str, int]:
        return self.stream.transport.get_extra_info("sockname")[:2]

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started = True
        proto = self.stream
        proto.driver = self
        early, proto.pending = proto.pending, []
        for data, addr in early:
            self._on_datagram(data, addr)
        # From now on the loop hands each datagram to the driver itself: one Python call fewer per datagram
        # (asyncio and uvloop both look datagram_received up on the protocol object at every datagram).
        proto.datagram_received = self._on_datagram
        self.wake()

    def wake(self) -> None:
        """Ask for a flush soon (call after the application queued messages)."""
        if self._flush_handle is None and not self._closed and self._started:
            self._flush_handle = self._loop.call_soon(self._scheduled_flush)

    async def close(self) -> None:
        """Flush what is due (e.g. DISCONNECT), then stop."""
        if self._closed:
            return
        if self._started:
            self._flush(self.clock())
        self._closed = True
        self.stream.driver = None
        self.stream.__dict__.pop("datagram_received", None)  # back to the class's, which queues
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._timer:
            self._timer.cancel()
            self._timer = None
        self.stream.transport.close()
        await asyncio.sleep(0)  # let the transport finish closing

    def _on_datagram(self, data: bytes, addr) -> None:
        if self._closed:
            return
        # Functions kept in attributes (the clock, the handler, the bound sendto) are read into locals and called
        # from there: CPython 3.11 specialises reading an attribute, but not calling one as if it were a method
        # (self.clock()), which then takes the generic lookup, cold code each time the process wakes.
        clock = self.clock
        now = clock()
        try:
            self.endpoint.receive_datagram(data, addr, now)
        except OSError:
            self.errors += 1
        if self.flush_on_receive:
            # Answered before the next datagram is read. Collecting a loop iteration's datagrams and answering
            # them in one flush took turns with the peer: netcode bench transport measured 1.7x the messages/s
            # with 32 in flight this way (paired runs), once acks were settled after the send.
            self._flush(now)

    def _scheduled_flush(self) -> None:
        self._flush_handle = None
        if not self._closed:
            self._flush(self.clock())

    def _flush(self, now: float) -> None:
        started = time.perf_counter() if self.on_flush is not None else 0.0
        endpoint = self.endpoint
        endpoint.update(now)
        events = endpoint.events()
        handler = self.handler  # (in a local: see _on_datagram)
        if events and handler is not None:
            handler(events, now)
        transport = self.stream.transport
        if transport.is_closing():
            return
        sendto = self._sendto
        if sendto is None:
            sendto = self._sendto = transport.sendto  # the socket's for good: bound once, not per flush
        peer = self._peer
        if peer is None:
            for data, addr in endpoint.datagrams_to_send(now):
                try:
                    sendto(data, addr)
                except OSError:
                    self.errors += 1
        else:  # a connected socket: no address to hand it (nor for it to check against its own)
            for data, addr in endpoint.datagrams_to_send(now):
                if addr is not peer and addr != peer:
                    self.misaddressed += 1
                    continue
                try:
                    sendto(data)
                except OSError:
                    self.errors += 1
        settle = self._settle
        if settle is not None:
            settle(now)  # an ack that opened the window leaves get_timer() at 0: the timer flushes again
        if self.on_flush is not None:
            self.on_flush(time.perf_counter() - started)
        self._arm_timer(now)

    def _arm_timer(self, now: float) -> None:
        t = self.endpoint.get_timer()
        timer = self._timer
        if timer is not None:
            # A timer armed earlier that has not fired yet and fires no later than needed is kept:
            # at worst it wakes a flush early (which re-arms), and a flush per batch no longer pays
            # for a cancel plus a call_later.
            if t is not None and self._timer_at <= t:
                return
            timer.cancel()
            self._timer = None
        if t is not None:
            self._timer_at = max(t, now)
            self._timer = self._loop.call_later(max(0.0, t - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None  # fired: the next flush arms a new one
        self.wake()


def _connectable(host: str, peer):
    """``peer`` if a socket bound to ``host`` can be connected to it: an (IPv4 literal, port) pair, as ``host``
    is (a name would resolve to an address the endpoint does not know it by); None otherwise."""
    if not isinstance(peer, (tuple, list)) or len(peer) != 2 or not isinstance(peer[1], int):
        return None
    try:
        if ipaddress.ip_address(peer[0]).version != 4 or ipaddress.ip_address(host or "0.0.0.0").version != 4:
            return None
    except (ValueError, TypeError):
        return None
    return peer


def set_on_signals(stop: asyncio.Event, *signals: int) -> list[int]:
    """Have each of ``signals`` set ``stop`` instead of ending the process; returns those it could install
    (none on Windows, nor off the main thread, where asyncio has no signal handlers)."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum in signals:
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    return installed


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[asyncio.Event]:
    """An event SIGTERM sets while the block runs, so a server stops as it does at the end of its duration:
    connections told, replay closed, final stats written. `docker stop` and Kubernetes send SIGTERM, and
    Python's default for it ends the process with nothing closed."""
    stop = asyncio.Event()
    installed = set_on_signals(stop, signal.SIGTERM)
    try:
        yield stop
    finally:
        for signum in installed:
            asyncio.get_running_loop().remove_signal_handler(signum)


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``stop`` is set; whether it was set."""
    if not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, seconds))
        except asyncio.TimeoutError:
            pass
    return stop.is_set()


def local_host_for(server_host: str) -> str:
    """Where a client socket binds: loopback for a loopback server, else every interface (a socket
    bound to 127.0.0.1 cannot send to another machine)."""
    return "127.0.0.1" if str(server_host).startswith("127.") else "0.0.0.0"


def new_event_loop_policy() -> str:
    """Use uvloop where it is installed (it reads many datagrams per wake-up); return its name."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


def run(main, loop: str = "auto"):
    """asyncio.run with the chosen loop ('auto' = uvloop when available)."""
    if loop == "asyncio":
        asyncio.set_event_loop_policy(None)
    elif loop in ("auto", "uvloop"):
        name = new_event_loop_policy()
        if loop == "uvloop" and name != "uvloop":
            raise SystemExit("netcode: uvloop is not installed")
    else:
        raise SystemExit(f"netcode: unknown event loop {loop!r} (auto, uvloop, asyncio)")
    return asyncio.run(main)
