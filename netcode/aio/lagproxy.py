"""asyncio driver of the lag proxy: real UDP sockets around the sans-IO ``netcode.netsim.proxy.LagProxy``.

One listening socket faces the clients; each client address gets its own upstream socket
(connected to the upstream server) so the server sees one distinct peer per client. Datagrams are
handed to the core as they arrive; a single loop timer fires at the core's ``next_time()`` to send
what is due and to close the sockets of idle sessions.
"""
from __future__ import annotations

import asyncio
import math
import socket
import sys
import time
from typing import Any, Callable

from ..netsim.proxy import DOWN, UP, LagProxy, Timeline
from .driver import SOCKET_BUFFER, grow_buffers


__all__ = ["LagProxyServer", "format_stats", "run_lagsim"]


class _Upstream:
    __slots__ = ("transport", "pending", "closed")

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []  # due before the socket was ready
        self.closed = False


class _ListenProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: LagProxyServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server._from_client(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.server.socket_errors += 1


class _UpstreamProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: LagProxyServer, client: Any) -> None:
        self.server = server
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.server._from_upstream(data, self.client)

    def error_received(self, exc: Exception) -> None:
        # e.g. ECONNREFUSED: the upstream port is closed (ICMP port unreachable)
        self.server.upstream_errors += 1


class LagProxyServer:
    """Pumps ``proxy`` over UDP: ``await start(host, port)``, ``await close()``.

    ``timeline`` (optional) is applied before every datagram enters the core, with the time since
    ``start``; configs therefore switch exactly at the timeline's times as seen by arriving traffic.

    Times come from ``clock`` (default ``time.monotonic``, sub-microsecond), not ``loop.time()``:
    uvloop's loop clock and timers have 1 ms granularity, which would let datagrams leave up to
    ~1 ms before their simulated delay. A timer that fires early just re-arms, so nothing is ever
    sent before it is due; under uvloop timers are padded up to the next whole millisecond + 1 ms
    so that they rarely fire early (the price: ~1 ms mean lateness instead of ~0.3 ms).
    """

    def __init__(self, proxy: LagProxy, upstream: tuple[str, int], timeline: Timeline | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.proxy = proxy
        self.upstream = upstream
        self.timeline = timeline
        self.clock = clock
        self.started = 0.0  # clock() at start
        self.socket_errors = 0
        self.upstream_errors = 0
        self.send_errors = 0
        self.lateness_sum = 0.0  # how long after its due time each datagram was actually sent
        self.lateness_max = 0.0
        self.sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listen: asyncio.DatagramTransport | None = None
        self._upstreams: dict[Any, _Upstream] = {}
        self._family = socket.AF_UNSPEC
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = math.inf
        self._uvloop = False
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Resolve the upstream, bind the listening socket; returns the bound (host, port)."""
        loop = self._loop = asyncio.get_running_loop()
        self._uvloop = type(loop).__module__.startswith("uvloop")
        infos = await loop.getaddrinfo(self.upstream[0], self.upstream[1], type=socket.SOCK_DGRAM)
        family, _, _, _, sockaddr = infos[0]
        self._family = family
        self.upstream = sockaddr
        self._listen, _ = await loop.create_datagram_endpoint(lambda: _ListenProtocol(self), local_addr=(host, port))
        # every client's datagrams queue on this one socket while the loop is busy: the default ~200 KB drops a
        # burst of a few hundred (a soak's 64 bots share the loop with the proxy), and drops here are not the
        # simulated link's
        grow_buffers(self._listen.get_extra_info("socket"), SOCKET_BUFFER)
        self.started = self.clock()
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        return self._listen.get_extra_info("sockname")[:2]

    def elapsed(self) -> float:
        return self.clock() - self.started

    def upstream_address(self, client: Any) -> tuple[str, int] | None:
        """The local address of ``client``'s upstream socket (what the server sees), if open."""
        up = self._upstreams.get(client)
        if up is None or up.transport is None:
            return None
        return up.transport.get_extra_info("sockname")[:2]

    @property
    def open_upstreams(self) -> int:
        return len(self._upstreams)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in list(self._upstreams):
            self._close_upstream(client)
        if self._listen is not None:
            self._listen.close()
        await asyncio.sleep(0)  # let the transports finish closing

    # --- datagrams in -------------------------------------------------------------------------

    def _from_client(self, data: bytes, addr: Any) -> None:
        now = self.clock()
        if self.timeline is not None:
            self.timeline.apply(self.proxy, now - self.started)
        if self.proxy.from_client(data, addr, now) is None:
            return  # rejected: too many clients
        if addr not in self._upstreams:
            self._open_upstream(addr)
        self._schedule(now)

    def _from_upstream(self, data: bytes, client: Any) -> None:
        now = self.clock()
        if self.timeline is not None:
            self.timeline.apply(self.proxy, now - self.started)
        if self.proxy.from_upstream(data, client, now):
            self._schedule(now)

    # --- upstream sockets ---------------------------------------------------------------------

    def _open_upstream(self, client: Any) -> None:
        up = self._upstreams[client] = _Upstream()
        task = self._loop.create_task(self._connect(client, up))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, client: Any, up: _Upstream) -> None:
        try:
            transport, _ = await self._loop.create_datagram_endpoint(
                lambda: _UpstreamProtocol(self, client), remote_addr=self.upstream, family=self._family)
        except OSError:
            self.upstream_errors += 1
            if self._upstreams.get(client) is up:
                del self._upstreams[client]
                self.proxy.close_session(client)  # the next datagram from the client retries
            return
        if up.closed:
            transport.close()
            return
        grow_buffers(transport.get_extra_info("socket"), SOCKET_BUFFER)
        up.transport = transport
        for data in up.pending:
            self._send_up(transport, data)
        up.pending.clear()

    def _close_upstream(self, client: Any) -> None:
        up = self._upstreams.pop(client, None)
        if up is None:
            return
        up.closed = True
        up.pending.clear()
        if up.transport is not None:
            up.transport.close()

    # --- timer and sending --------------------------------------------------------------------

    def _schedule(self, now: float) -> None:
        t = self.proxy.next_time()
        if t is None or t >= self._timer_when or self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_when = t
        delay = t - now
        if delay <= 0:
            self._timer = self._loop.call_soon(self._pump)  # coalesces with other datagrams of this wake-up
        else:
            if self._uvloop:  # whole milliseconds, and one more for libuv's truncated loop clock
                delay = (math.ceil(delay * 1000.0) + 1) / 1000.0
            self._timer = self._loop.call_later(delay, self._pump)

    def _pump(self) -> None:
        self._timer = None
        self._timer_when = math.inf
        now = self.clock()
        upstreams, listen = self._upstreams, self._listen
        for due, direction, client, data in self.proxy.due_timed(now):
            late = now - due
            self.lateness_sum += late
            if late > self.lateness_max:
                self.lateness_max = late
            self.sent += 1
            if direction == DOWN:
                try:
                    listen.sendto(data, client)
                except OSError:
                    self.send_errors += 1
            else:
                up = upstreams.get(client)
                if up is None:
                    self.send_errors += 1
                elif up.transport is None:
                    up.pending.append(data)
                else:
                    self._send_up(up.transport, data)
        for client in self.proxy.expire(now):
            self._close_upstream(client)
        self._schedule(now)

    def _send_up(self, transport: asyncio.DatagramTransport, data: bytes) -> None:
        try:
            transport.sendto(data)
        except OSError:
            self.send_errors += 1


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"


def format_stats(stats: dict[str, Any], elapsed: float, previous: dict[str, Any] | None = None,
                 server: LagProxyServer | None = None) -> str:
    """One status line. ``previous`` (an earlier ``proxy.stats()``) turns the delay into an interval mean."""
    parts = [f"[{elapsed:7.1f}s] clients {stats['clients']}"]
    for name in (UP, DOWN):
        d = stats[name]
        forwarded, delay_sum = d["forwarded"], d["delay_sum"]
        if previous is not None:
            forwarded -= previous[name]["forwarded"]
            delay_sum -= previous[name]["delay_sum"]
        mean = delay_sum / forwarded if forwarded > 0 else None
        loss = f" loss {d['loss'] * 100:g}%" if d["loss"] else ""
        parts.append(f"{name}: fwd {d['forwarded']} drop {d['dropped']} dup {d['duplicated']} "
                     f"reord {d['reordered']} | delay {_ms(d['latency'])}±{d['jitter'] * 1000:g}{loss} "
                     f"(avg {_ms(mean)})")
    if server is not None and server.sent:
        parts.append(f"late avg {_ms(server.lateness_sum / server.sent)} max {_ms(server.lateness_max)}")
    return " | ".join(parts)


async def run_lagsim(proxy: LagProxy, listen: tuple[str, int], upstream: tuple[str, int],
                     timeline: Timeline | None = None, stats_interval: float = 5.0, duration: float | None = None,
                     out: Callable[[str], None] | None = None,
                     on_ready: Callable[[LagProxyServer], None] | None = None) -> dict[str, Any]:
    """Run a proxy until ``duration`` seconds have passed (None/0: until cancelled); returns final stats.

    Prints a 'listening' line, a stats line every ``stats_interval`` seconds (0: never) and a final
    summary through ``out`` (default: print to stdout, flushed).
    """
    if out is None:
        def out(line: str) -> None:
            print(line, flush=True)
    server = LagProxyServer(proxy, upstream, timeline)
    host, port = await server.start(*listen)
    out(f"lagsim: listening on {host}:{port} -> upstream {server.upstream[0]}:{server.upstream[1]} "
        f"(seed {proxy.seed}{f', timeline of {len(timeline)} steps' if timeline else ''})")
    if on_ready is not None:
        on_ready(server)
    clock = server.clock
    deadline = server.started + duration if duration else math.inf
    previous = proxy.stats()
    next_stats = server.started + stats_interval if stats_interval > 0 else math.inf
    try:
        while True:
            now = clock()
            wake = min(deadline, next_stats)
            if wake == math.inf:
                await asyncio.Event().wait()  # until cancelled
            if now < wake:
                await asyncio.sleep(wake - now)
                continue
            if now >= deadline:
                break
            if timeline is not None:
                timeline.apply(proxy, now - server.started)
            stats = proxy.stats()
            out("lagsim " + format_stats(stats, server.elapsed(), previous, server))
            previous = stats
            next_stats += stats_interval
    finally:
        await server.close()
        stats = proxy.stats()
        out("lagsim: done " + format_stats(stats, server.elapsed(), None, server)
            + f" | sessions {stats['sessions']} expired {stats['expired']}"
            + (f" | upstream errors {server.upstream_errors}" if server.upstream_errors else ""))
        sys.stdout.flush()
    return stats
