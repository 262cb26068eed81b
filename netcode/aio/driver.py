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
        stream, endpoint, clock, wake = self.stream, self.endpoint, self.clock, self._wake
        flush = self.flush_on_receive
        burst = 0
        while True:
            burst += 1
            if burst >= 32:
                # Queue.get() does not yield while datagrams are waiting: under a backlog the
                # receive loop would starve the flush (no acks, no inputs go out). Let it run.
                burst = 0
                await asyncio.sleep(0)
            try:
                data, addr = await stream.recv()
            except asyncio_dgram.TransportClosed:
                return
            except OSError:
                # e.g. ECONNREFUSED after an ICMP unreachable: UDP has no connection to lose
                self.errors += 1
                continue
            endpoint.receive_datagram(data, addr, clock())
            if flush:
                wake.set()

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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if t is not None:
            self._timer = asyncio.get_running_loop().call_later(max(0.0, t - now), self._wake.set)


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
