"""The only code that touches sockets and the clock: pumps a sans-IO endpoint over asyncio-dgram.

Datagrams that arrive in one loop iteration are all handed to the endpoint before it is asked
what to send, so replies coalesce into as few datagrams as possible.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable

import asyncio_dgram

Handler = Callable[[list, float], None]


_BATCH = 64  # datagrams taken per receive batch before other tasks get a turn


def _recv_nowait_for(stream) -> Callable[[], tuple | None]:
    """A function returning a datagram asyncio-dgram has already queued, or None if none is.

    asyncio-dgram has no public non-blocking receive, so this reads its private queue (_recvq);
    should that attribute go away, it falls back to always None (one `await recv()` per datagram).
    """
    queue = getattr(stream, "_recvq", None)
    if not isinstance(queue, asyncio.Queue):
        return lambda: None

    def recv_nowait():
        if queue.empty():
            return None
        item = queue.get_nowait()
        if item[0] is None:  # asyncio-dgram's end-of-stream marker
            raise asyncio_dgram.TransportClosed()
        return item

    return recv_nowait


class DatagramDriver:
    """Runs one ServerProtocol or ClientProtocol on one UDP socket."""

    def __init__(self, endpoint, stream, handler: Handler | None = None, clock: Callable[[], float] = time.monotonic,
                 flush_on_receive: bool = True, on_flush: Callable[[float], None] | None = None):
        self.endpoint = endpoint
        self.stream = stream
        self.handler = handler
        self.clock = clock
        # A tick-driven server answers at its next tick, not per datagram: with hundreds of clients a
        # flush per arriving input would cost more than the tick itself.
        self.flush_on_receive = flush_on_receive
        self.on_flush = on_flush  # told each flush's duration (seconds), e.g. to time server ticks
        self.errors = 0  # socket errors (e.g. ICMP port unreachable) survived
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # the clock time self._timer fires at
        self._tasks: list[asyncio.Task] = []
        self._closed = False

    @classmethod
    async def bind(cls, endpoint, host: str = "127.0.0.1", port: int = 0, handler: Handler | None = None, **kw):
        stream = await asyncio_dgram.bind((host, port))
        return cls(endpoint, stream, handler, **kw)

    @property
    def address(self) -> tuple[str, int]:
        return self.stream.sockname[:2]

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._receive_loop()), asyncio.create_task(self._send_loop())]
        self.wake()

    def wake(self) -> None:
        """Ask for a flush soon (call after the application queued messages)."""
        self._wake.set()

    async def close(self) -> None:
        """Flush what is due (e.g. DISCONNECT), then stop."""
        if self._closed:
            return
        await self._flush()
        self._closed = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._timer:
            self._timer.cancel()
        self.stream.close()

    async def _receive_loop(self) -> None:
        stream, endpoint, clock = self.stream, self.endpoint, self.clock
        flush = self.flush_on_receive
        recv_nowait = _recv_nowait_for(stream)
        while True:
            try:
                data, addr = await stream.recv()
                now = clock()
                endpoint.receive_datagram(data, addr, now)
                # Take every datagram already queued without a wait per datagram, so the whole batch
                # is in the endpoint before it is asked what to send.
                n = 1
                while n < _BATCH:
                    item = recv_nowait()
                    if item is None:
                        break
                    endpoint.receive_datagram(item[0], item[1], now)
                    n += 1
            except asyncio_dgram.TransportClosed:
                return
            except OSError:
                # e.g. ECONNREFUSED after an ICMP unreachable: UDP has no connection to lose
                self.errors += 1
                continue
            if flush and not self._closed:
                # Reply in this same loop iteration rather than waking the send task: one task
                # switch less per batch, and the peer gets its answer sooner.
                await self._flush()
            if n >= _BATCH:
                # recv() does not yield while datagrams are waiting: under a backlog the receive
                # loop would starve the other tasks (timers, the send loop, the application).
                await asyncio.sleep(0)

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        started = time.perf_counter()
        now = self.clock()
        endpoint = self.endpoint
        endpoint.update(now)
        events = endpoint.events()
        if events and self.handler is not None:
            self.handler(events, now)
        send = self.stream.send
        for data, addr in endpoint.datagrams_to_send(now):
            try:
                await send(data, addr)
            except OSError:
                self.errors += 1
            except asyncio_dgram.TransportClosed:
                return
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
            self._timer = asyncio.get_running_loop().call_later(max(0.0, t - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None  # fired: the next flush arms a new one
        self._wake.set()


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
