"""`netcode host`: worker processes of many rooms each (netcode.aio.host_worker), an optional embedded
matchmaker (netcode.aio.matchmaker), bots to fill short matches, and Prometheus metrics for all of it.

The parent reads each worker's status line (capacity, rooms, tick times, traffic), tells the matchmaker,
and serves /metrics from them. SIGTERM (or Ctrl-C) drains: the workers take no new rooms, their running
matches play on until empty or the drain deadline, then every replay is closed and everything exits.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

from aiohttp import web

from ..hosting.matchmaking import Matchmaker, QueueRules
from ..security.keys import KEY_ENV
from .metrics import HostCollector, registry_for, render


class HostRunner:
    """The parent of a host's workers."""

    def __init__(self, workers: int, host: str, port: int, *, key: bytes | None, protocol_id: int,
                 public_host: str | None = None, record_dir: str | None = None, max_rooms: int = 64,
                 npcs: int | None = None, drain_timeout: float = 30.0, rules: QueueRules | None = None):
        self.n = workers
        self.host, self.port = host, port
        self.key, self.protocol_id = key, protocol_id
        self.public_host = public_host
        self.record_dir, self.max_rooms, self.npcs = record_dir, max_rooms, npcs
        self.drain_timeout = drain_timeout
        self.procs: list[asyncio.subprocess.Process] = []
        self.statuses: dict[int, dict] = {}
        self.mm = Matchmaker(key, protocol_id, rules) if key is not None else None
        self.collector = HostCollector(self.statuses, self.mm)
        self.registry = registry_for(self.collector)
        self.bots: list = []
        self._readers: list[asyncio.Task] = []
        self._sites: list[web.AppRunner] = []
        self.matchmaker_app: web.Application | None = None
        self.matchmaker_port: int | None = None
        self.metrics_port: int | None = None
        self.agones = None  # the Agones SDK reporter, when $AGONES_SDK_HTTP_PORT says a sidecar is there
        self.fleet = None  # its FleetHost (netcode.aio.fleet), with --nats

    def rooms(self) -> int:
        return sum(s.get("capacity", {}).get("rooms", 0) for s in self.statuses.values())

    def players(self) -> int:
        return sum(s.get("capacity", {}).get("players", 0) for s in self.statuses.values())

    async def start_agones(self, env=None) -> None:
        """Behind Agones: Ready, Health pings, and the rooms/players Counters following the workers
        (high-density game servers: one game server, many rooms). Off without the sidecar's variable."""
        from .agones import AgonesReporter, AgonesSDK

        sdk = AgonesSDK.from_env(env)
        if sdk is None:
            return
        self.agones = AgonesReporter(sdk, rooms=self.rooms, players=self.players,
                                     rooms_capacity=self.n * self.max_rooms)
        await self.agones.start()

    async def start(self) -> None:
        env = dict(os.environ)
        if self.key is not None:
            env[KEY_ENV] = self.key.hex()  # in the environment, never on a command line
        for i in range(self.n):
            port = self.port + i if self.port else 0
            cmd = [sys.executable, "-m", "netcode.cli.host_worker", "--index", str(i), "--host", self.host,
                   "--port", str(port), "--protocol-id", str(self.protocol_id), "--max-rooms", str(self.max_rooms),
                   "--drain-timeout", str(self.drain_timeout)]
            if self.public_host and port:
                cmd += ["--public-address", f"{self.public_host}:{port}"]
            if self.record_dir:
                cmd += ["--record", self.record_dir]
            if self.npcs is not None:
                cmd += ["--npcs", str(self.npcs)]
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, env=env)
            self.procs.append(proc)
            self._readers.append(asyncio.create_task(self._read(i, proc)))
        deadline = time.monotonic() + 20
        while len([s for s in self.statuses.values() if "capacity" in s]) < self.n:
            if time.monotonic() > deadline or any(p.returncode is not None for p in self.procs):
                raise RuntimeError("a host worker did not start (is the port in use?)")
            await asyncio.sleep(0.05)

    async def _read(self, index: int, proc) -> None:
        while True:
            line = await proc.stdout.readline()
            if not line:
                break
            try:
                status = json.loads(line)
            except ValueError:
                continue
            self.statuses[index] = status
            if self.mm is not None and "capacity" in status:
                addr = status["address"]
                if self.public_host:
                    addr = [self.public_host, addr[1]]
                cap = dict(status["capacity"], room_codes=[r["match_id"] for r in status.get("rooms", [])])
                self.mm.host_seen(f"w{index}", addr, cap, time.time())

    def addresses(self) -> list[tuple[str, int]]:
        return [tuple(self.statuses[i]["address"]) for i in sorted(self.statuses) if "address" in self.statuses[i]]

    async def serve_http(self, matchmaker_port: int | None, metrics_port: int | None, http_host: str) -> None:
        from .matchmaker import make_app, start_site

        if matchmaker_port is not None and self.mm is not None:
            self.matchmaker_app = make_app(self.mm)
            self.matchmaker_app.router.add_get("/metrics", self._metrics)
            self.matchmaker_app.router.add_get("/status", self._status)
            runner, self.matchmaker_port = await start_site(self.matchmaker_app, http_host, matchmaker_port)
            self._sites.append(runner)
        if metrics_port is not None:
            app = web.Application()
            app.router.add_get("/metrics", self._metrics)
            app.router.add_get("/status", self._status)
            runner, self.metrics_port = await start_site(app, http_host, metrics_port)
            self._sites.append(runner)

    async def _status(self, request):
        """Every worker's last status line (rooms with their tick percentiles, capacity, traffic), as JSON."""
        return web.json_response({"workers": [self.statuses[i] for i in sorted(self.statuses)]})

    async def _metrics(self, request):
        return web.Response(body=render(self.registry), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type": "text/plain; version=0.0.4"})

    async def tick_matchmaker(self) -> None:
        """Form due matches, start the bots that fill short ones, wake the long polls."""
        from .matchmaker import notify_assigned

        mm = self.mm
        if mm is None:
            return
        assigned = mm.update(time.time())
        self.collector.note_waits(mm.waits)
        mm.waits.clear()
        while mm.bot_requests:
            match, count = mm.bot_requests.pop()
            await self._fill_with_bots(match, count)
        if assigned and self.matchmaker_app is not None:
            await notify_assigned(self.matchmaker_app)

    async def _fill_with_bots(self, match, count: int) -> None:
        from .bots import Bot
        from .driver import DatagramDriver

        issuer = _SeatIssuer(self.mm, match)
        for k in range(count):
            b = Bot(1000 + len(self.bots), match.host.address, None, seed=len(self.bots) + 1, issuer=issuer)
            b.driver = await DatagramDriver.bind(b.client, "127.0.0.1" if match.host.address[0].startswith("127.")
                                                 else "0.0.0.0", handler=b.on_events)
            b.client.connect(time.monotonic())
            b.driver.start()
            self.bots.append(b)
        self.mm.counters["bots"] += count

    async def run(self, duration: float, stop: asyncio.Event) -> None:
        start = time.monotonic()
        while not stop.is_set() and (duration <= 0 or time.monotonic() - start < duration):
            await self.tick_matchmaker()
            if any(p.returncode is not None for p in self.procs):
                print("netcode host: a worker exited", file=sys.stderr)
                break
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except asyncio.TimeoutError:
                pass

    async def drain(self) -> None:
        """SIGTERM every worker and wait for them: matches finish or hit the drain deadline, replays close;
        behind Agones, the sidecar is told Shutdown once they are done."""
        for b in self.bots:
            b.leaving = True
            b.client.disconnect()
            await b.driver.close()
        for p in self.procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), self.drain_timeout + 10)
            except asyncio.TimeoutError:
                p.kill()
        for t in self._readers:
            t.cancel()
        for runner in self._sites:
            await runner.cleanup()
        if self.agones is not None:
            await self.agones.drain()
            await self.agones.stop()
        if self.fleet is not None:  # heartbeats said "draining" all along; now "gone"
            await self.fleet.stop()


class _SeatIssuer:
    """Bot tokens for one placed match (what Bot's issuer is asked for)."""

    def __init__(self, mm: Matchmaker, match):
        self.mm, self.match = mm, match

    def new_client_id(self) -> int:
        return int.from_bytes(os.urandom(8), "little")

    def token(self, server, client_id: int, now: float, name: str = "bot") -> bytes:
        import base64

        return base64.b64decode(self.mm.seat(self.match, name, now, client_id=client_id)["connect_token"])


async def run_host(workers: int, host: str, port: int, *, key, protocol_id: int, matchmaker_port: int | None,
                   metrics_port: int | None, http_host: str = "127.0.0.1", duration: float = 0.0,
                   ready=None, nats_url: str | None = None, host_id: str | None = None, region: str = "local",
                   **kw) -> int:
    runner = HostRunner(workers, host, port, key=key, protocol_id=protocol_id, **kw)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.start()
        await runner.serve_http(matchmaker_port, metrics_port, http_host)
        await runner.start_agones()
        if nats_url is not None:  # one of a fleet: capacity on NATS, placements by request/reply
            from .fleet import FleetHost

            runner.fleet = FleetHost(runner, nats_url, host_id, region)
            await runner.fleet.start()
        addrs = ", ".join(f"{h}:{p}" for h, p in runner.addresses())
        secure = "secure (netcode.io tokens)" if key is not None else "INSECURE development transport"
        print(f"netcode host: {workers} worker(s) on {addrs}, {secure}"
              + (f"; matchmaker on http://{http_host}:{runner.matchmaker_port}" if runner.matchmaker_port else "")
              + (f"; metrics on http://{http_host}:{runner.metrics_port}/metrics" if runner.metrics_port else "")
              + (f"; fleet host {runner.fleet.host_id} on {nats_url}" if runner.fleet else ""),
              flush=True)
        if ready is not None:
            ready(runner)
        await runner.run(duration, stop)
    finally:
        print("netcode host: draining", flush=True)
        await runner.drain()
    return 0
