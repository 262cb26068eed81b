"""Many hosts and matchmakers through NATS (nats-py): hosts publish their capacity and health, matchmakers
place matches on them by load and ask the chosen host first (request/reply). docs/HOSTING.md, "Many hosts".

Subjects (JSON bodies):

    netcode.fleet.hosts                 every host's heartbeat, every 0.5 s:
        {host_id, region, address, workers: [{worker, address, rooms, max_rooms, free_rooms, players,
         draining}], capacity: {rooms, max_rooms, free_rooms, players, draining, room_codes}, reserved}
        and {host_id, gone: true} when it leaves after a drain
    netcode.fleet.host.<host_id>.place  request {match, game, mode, players}
        reply {ok: true, host_id, worker, address: [host, port]} | {ok: false, error}

A host's capacity counts the rooms it promised (reserved) and its workers do not run yet. A matchmaker
forgets a host silent for ``Matchmaker.host_timeout`` (3 s): its matches are no longer offered (lobby, join
by code, reconnect). A placement the host refuses, or does not answer within ``request_timeout`` (1 s), goes
to the next host; with none left its tickets stay queued and are formed again (netcode.hosting.matchmaking,
two-phase placement). The logic of tickets and placement is sans-IO in netcode.hosting.matchmaking; this
module is its network half.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time

import nats
from aiohttp import web
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ..hosting.matchmaking import Matchmaker, QueueRules
from .host import HostRunner
from .metrics import HostCollector, registry_for, render

HOSTS_SUBJECT = "netcode.fleet.hosts"
HEARTBEAT_EVERY = 0.5  # seconds between a host's heartbeats
RESERVE_FOR = 30.0  # seconds a promised room counts in its host's capacity while nobody has arrived in it
REQUEST_TIMEOUT = 1.0  # seconds a matchmaker waits for a host's answer before it asks the next one
HOST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # one NATS subject token


def place_subject(host_id: str) -> str:
    return f"netcode.fleet.host.{host_id}.place"


def default_host_id() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{socket.gethostname()}-{os.getpid()}")[:64]


async def connect(url: str, who: str, timeout: float = 5.0):
    """A NATS connection that reconnects for ever once made; errors are one line on stderr (at most one
    every 5 s), never a traceback. Raises RuntimeError if no server answers within ``timeout``."""
    last = [0.0]

    async def error(e):
        if time.monotonic() - last[0] > 5.0:
            last[0] = time.monotonic()
            print(f"{who}: NATS: {type(e).__name__}: {e}", file=sys.stderr, flush=True)

    try:
        return await asyncio.wait_for(nats.connect(url, name=who, error_cb=error, connect_timeout=2,
                                                   reconnect_time_wait=0.5, max_reconnect_attempts=-1), timeout)
    except (asyncio.TimeoutError, OSError, nats.errors.Error) as e:
        raise RuntimeError(f"cannot reach NATS at {url} ({type(e).__name__})") from None


# ------------------------------------------------------------------ the host's side

class FleetHost:
    """A host's presence on NATS, next to its HostRunner: heartbeats of its workers' capacity, and answers
    to placement requests.

    "Creating" a match here is a reservation: the host picks its least-loaded worker and counts the room in
    its capacity at once, and the room itself is made by that worker when the first player's connect token
    arrives (the token names it: docs/PROTOCOL.md, "Hosting"). The reservation ends when the worker reports
    the room, or after ``reserve_for`` seconds with nobody come.
    """

    def __init__(self, runner: HostRunner, url: str, host_id: str | None = None, region: str = "local",
                 every: float = HEARTBEAT_EVERY, reserve_for: float = RESERVE_FOR, clock=time.monotonic):
        self.runner, self.url = runner, url
        self.host_id = host_id or default_host_id()
        if not HOST_ID.match(self.host_id):
            raise ValueError(f"a host id is 1..64 of A-Z a-z 0-9 _ -, not {self.host_id!r}")
        self.region, self.every, self.reserve_for, self.clock = region, every, reserve_for, clock
        self.reserved: dict[str, tuple[int, float]] = {}  # room code -> (worker index, when promised)
        self.nc = None
        self._task: asyncio.Task | None = None
        self.counters: dict[str, int] = {"placed": 0, "refused": 0}

    # the logic (no I/O: the workers' last status lines and ``now`` in)

    def _workers(self, now: float) -> list[dict]:
        live = {i: s for i, s in sorted(self.runner.statuses.items()) if "capacity" in s}
        codes = {i: {r["match_id"] for r in s.get("rooms", [])} for i, s in live.items()}
        for code, (i, t) in list(self.reserved.items()):
            if code in codes.get(i, ()) or now - t > self.reserve_for or i not in live:
                del self.reserved[code]  # the worker runs it now, or nobody came, or the worker is gone
        out = []
        for i, s in live.items():
            cap, addr = s["capacity"], list(s["address"])
            if self.runner.public_host:
                addr = [self.runner.public_host, addr[1]]
            held = sum(1 for w, _ in self.reserved.values() if w == i)
            out.append({"worker": i, "address": addr, "rooms": int(cap.get("rooms", 0)) + held,
                        "max_rooms": int(cap.get("max_rooms", 0)), "players": int(cap.get("players", 0)),
                        "free_rooms": max(0, int(cap.get("free_rooms", 0)) - held),
                        "draining": bool(cap.get("draining")),
                        "room_codes": sorted(codes[i] | {c for c, (w, _) in self.reserved.items() if w == i})})
        return out

    def heartbeat(self, now: float) -> dict | None:
        workers = self._workers(now)
        if not workers:
            return None
        capacity = {k: sum(w[k] for w in workers) for k in ("rooms", "max_rooms", "free_rooms", "players")}
        capacity["draining"] = all(w["draining"] for w in workers)
        capacity["room_codes"] = sorted(c for w in workers for c in w["room_codes"])
        return {"host_id": self.host_id, "region": self.region, "address": workers[0]["address"],
                "workers": [{k: v for k, v in w.items() if k != "room_codes"} for w in workers],
                "capacity": capacity, "reserved": len(self.reserved)}

    def place(self, request: dict, now: float) -> dict:
        """A matchmaker asks for a room: reserve one on the least-loaded worker, or say why not."""
        code = request.get("match") if isinstance(request, dict) else None
        if not isinstance(code, str) or not 0 < len(code) <= 16:
            return self._refuse("a place request needs its match code")
        workers = self._workers(now)
        if any(code in w["room_codes"] for w in workers):
            return self._refuse(f"room {code} exists here already")
        open_ = [w for w in workers if not w["draining"] and w["free_rooms"] > 0]
        if not open_:
            return self._refuse("draining" if workers and all(w["draining"] for w in workers) else "full")
        best = max(open_, key=lambda w: (w["free_rooms"], -w["players"]))
        self.reserved[code] = (best["worker"], now)
        self.counters["placed"] += 1
        return {"ok": True, "host_id": self.host_id, "worker": best["worker"], "address": best["address"]}

    def _refuse(self, why: str) -> dict:
        self.counters["refused"] += 1
        return {"ok": False, "host_id": self.host_id, "error": why}

    # the network

    async def start(self) -> None:
        self.nc = await connect(self.url, f"netcode host {self.host_id}")
        await self.nc.subscribe(place_subject(self.host_id), cb=self._on_place)
        await self._publish()
        self._task = asyncio.create_task(self._beat())

    async def _on_place(self, msg) -> None:
        try:
            request = json.loads(msg.data)
        except ValueError:
            request = None
        reply = self.place(request, self.clock())
        try:
            await msg.respond(json.dumps(reply).encode())
            if reply.get("ok"):
                await self._publish()  # every matchmaker sees the room counted now, not at the next beat
        except nats.errors.Error:
            pass  # cut off: the matchmaker hears nothing and asks another host (this reservation lapses)

    async def _publish(self) -> None:
        beat = self.heartbeat(self.clock())
        if beat is not None and self.nc is not None and self.nc.is_connected:
            await self.nc.publish(HOSTS_SUBJECT, json.dumps(beat).encode())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self._publish()
            except nats.errors.Error:
                pass  # reconnecting: the next beat goes out once it is back

    async def stop(self) -> None:
        """After the drain: tell the matchmakers at once (rather than by silence) and close."""
        if self._task is not None:
            self._task.cancel()
        if self.nc is not None:
            try:
                if self.nc.is_connected:
                    await self.nc.publish(HOSTS_SUBJECT, json.dumps({"host_id": self.host_id, "gone": True}).encode())
                    await self.nc.flush(timeout=1)
                await self.nc.close()
            except (nats.errors.Error, asyncio.TimeoutError):
                pass


# ------------------------------------------------------------------ the matchmaker's side

class FleetDirectory:
    """A matchmaker's view of the fleet: every host's heartbeat goes to ``mm.host_seen`` (one entry per host,
    its workers' capacity summed, so ``Matchmaker._place`` picks the host with the most free rooms), silent
    hosts expire in ``mm.update``, and each match ``mm`` forms is proposed to its host by request/reply
    before any token is issued (``mm.confirm_placement``)."""

    def __init__(self, mm: Matchmaker, url: str, *, request_timeout: float = REQUEST_TIMEOUT, clock=time.time,
                 on_assigned=None):
        mm.confirm_placement = True
        self.mm, self.url, self.request_timeout, self.clock = mm, url, request_timeout, clock
        self.on_assigned = on_assigned  # async (tickets) -> None, after tickets were assigned by an answer
        self.nc = None
        self._asking: set[asyncio.Task] = set()

    async def start(self) -> None:
        self.nc = await connect(self.url, "netcode matchmaker")
        await self.nc.subscribe(HOSTS_SUBJECT, cb=self._on_host)

    async def _on_host(self, msg) -> None:
        try:
            beat = json.loads(msg.data)
            host_id = str(beat["host_id"])
            if beat.get("gone"):
                self.mm.host_gone(host_id)
                return
            cap = beat["capacity"]
            address = beat["address"]
            if not isinstance(cap, dict) or len(address) != 2:
                raise ValueError
            self.mm.host_seen(host_id, (str(address[0]), int(address[1])), cap, self.clock(),
                              region=str(beat.get("region", "local")))
        except (ValueError, KeyError, TypeError):
            self.mm.counters["bad heartbeats"] += 1

    def tick(self) -> list:
        """``mm.update`` (form due matches, expire silent hosts), then ask the hosts of the new proposals."""
        assigned = self.mm.update(self.clock())
        while self.mm.proposals:
            task = asyncio.create_task(self._ask(self.mm.proposals.popleft()))
            self._asking.add(task)
            task.add_done_callback(self._asking.discard)
        return assigned

    async def _ask(self, p) -> None:
        address = error = None
        try:
            msg = await self.nc.request(place_subject(p.host.id), json.dumps(p.request()).encode(),
                                        timeout=self.request_timeout)
            reply = json.loads(msg.data)
            if reply.get("ok"):
                address = (str(reply["address"][0]), int(reply["address"][1]))
            else:
                error = str(reply.get("error", "refused"))
        except (NatsTimeout, asyncio.TimeoutError):
            error = "no answer"
        except NoRespondersError:
            error = "no responders"  # nobody listens on its subject: the host is dead, or cut off
        except (nats.errors.Error, ValueError, KeyError, TypeError, IndexError) as e:
            error = f"a bad answer ({type(e).__name__})"
        if error in ("no answer", "no responders"):
            self.mm.counters["placements unanswered"] += 1
        assigned = self.mm.placement_answered(p, self.clock(), address=address, error=error)
        self.tick()  # a refused proposal goes to the next host now, not at the next tick
        if assigned and self.on_assigned is not None:
            await self.on_assigned(assigned)

    async def stop(self) -> None:
        for t in list(self._asking):
            t.cancel()
        if self.nc is not None:
            try:
                await self.nc.close()
            except nats.errors.Error:
                pass


class FleetMatchmaker:
    """`netcode matchmaker`: the HTTP API of netcode.aio.matchmaker over a FleetDirectory instead of local
    workers. Short matches are filled with bots (unless the rules say no) run **in this process**, as the
    embedded matchmaker runs them in its host's."""

    # HostRunner's bot filler uses only ``mm`` and ``bots``: the same bots, tokens from this matchmaker
    _fill_with_bots = HostRunner._fill_with_bots

    def __init__(self, url: str, key: bytes, protocol_id: int, rules: QueueRules | None = None,
                 host_timeout: float = 3.0, request_timeout: float = REQUEST_TIMEOUT):
        self.mm = Matchmaker(key, protocol_id, rules, host_timeout=host_timeout, confirm_placement=True)
        self.fleet = FleetDirectory(self.mm, url, request_timeout=request_timeout, on_assigned=self._assigned)
        self.collector = HostCollector({}, self.mm)
        self.registry = registry_for(self.collector)
        self.bots: list = []
        self.app: web.Application | None = None
        self.port: int | None = None
        self._site = None

    async def start(self, port: int, http_host: str) -> None:
        from .matchmaker import make_app, start_site

        await self.fleet.start()
        self.app = make_app(self.mm)
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/fleet", self._fleet)
        self._site, self.port = await start_site(self.app, http_host, port)

    async def _fleet(self, request):
        """The hosts this matchmaker knows (live or not yet expired) and its counters, as JSON."""
        now = time.time()
        hosts = [{"host_id": h.id, "region": h.region, "address": list(h.address), "seen_ago": round(now - h.seen, 3),
                  "live": h in self.mm.live_hosts(now),
                  "capacity": {k: v for k, v in h.capacity.items() if k != "room_codes"}}
                 for h in self.mm.hosts.values()]
        return web.json_response({"hosts": hosts, "matches": len(self.mm.matches),
                                  "pending": len(self.mm.pending), "counters": dict(self.mm.counters)})

    async def _metrics(self, request):
        return web.Response(body=render(self.registry), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type": "text/plain; version=0.0.4"})

    async def _assigned(self, tickets) -> None:
        from .matchmaker import notify_assigned

        self.collector.note_waits(self.mm.waits)
        self.mm.waits.clear()
        while self.mm.bot_requests:
            match, count = self.mm.bot_requests.pop()
            await self._fill_with_bots(match, count)
        if self.app is not None:
            await notify_assigned(self.app)

    async def tick(self) -> None:
        assigned = self.fleet.tick()
        if assigned:  # (none: every assignment comes from a host's answer)
            await self._assigned(assigned)

    async def stop(self) -> None:
        for b in self.bots:
            b.leaving = True
            b.client.disconnect()
            await b.driver.close()
        await self.fleet.stop()
        if self._site is not None:
            await self._site.cleanup()


async def run_matchmaker(url: str, *, key: bytes, protocol_id: int, rules: QueueRules | None, port: int,
                         http_host: str = "127.0.0.1", duration: float = 0.0, host_timeout: float = 3.0) -> int:
    fm = FleetMatchmaker(url, key, protocol_id, rules, host_timeout=host_timeout)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await fm.start(port, http_host)
        print(f"netcode matchmaker: on http://{http_host}:{fm.port}, placing on the fleet at {url}", flush=True)
        start = time.monotonic()
        while not stop.is_set() and (duration <= 0 or time.monotonic() - start < duration):
            await fm.tick()
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except asyncio.TimeoutError:
                pass
    finally:
        await fm.stop()
    return 0


__all__ = ["FleetDirectory", "FleetHost", "FleetMatchmaker", "HOSTS_SUBJECT", "place_subject", "run_matchmaker"]
