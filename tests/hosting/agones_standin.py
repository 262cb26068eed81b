"""A stand-in for the Agones SDK sidecar's REST API, for tests (no Kubernetes, no real sidecar here).

It serves the paths of Agones v1.56's ``proto/sdk/sdk.proto`` and ``proto/sdk/beta/beta.proto`` (Counters)
with the gateway's JSON shapes (proto field names, int64 as strings, ``{"result": ...}`` lines on the watch
stream, ``{"code", "message", "details"}`` on errors), keeps a GameServer (state, labels, annotations,
counters with count and capacity), records every call, and can be told to fail a path or to flip to
Allocated. It applies a change at once where the real sidecar batches it (about a second later in a cluster).
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from aiohttp import web

PREFIX = "agones.dev/sdk-"  # the sidecar prefixes SDK-set labels and annotations with it


@dataclass
class Call:
    method: str
    path: str
    body: dict | None
    t: float  # time.monotonic() when it arrived


@dataclass
class Failure:
    status: int
    times: int | None  # None: every call until cleared


@dataclass
class AgonesStandIn:
    name: str = "standin-gs"
    counters: dict[str, dict[str, int]] = field(
        default_factory=lambda: {"rooms": {"count": 0, "capacity": 10}, "players": {"count": 0, "capacity": 100}})
    state: str = "Scheduled"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self):
        self._failures: dict[str, Failure] = {}
        self._watchers: list[asyncio.Queue] = []
        self._runner: web.AppRunner | None = None
        self._version = 1
        self.url = ""

    # -- control -------------------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        r = app.router
        r.add_post("/ready", self._ready)
        r.add_post("/health", self._health)
        r.add_post("/shutdown", self._shutdown)
        r.add_post("/allocate", self._allocate)
        r.add_post("/reserve", self._reserve)
        r.add_put("/metadata/label", self._label)
        r.add_put("/metadata/annotation", self._annotation)
        r.add_get("/gameserver", self._gameserver)
        r.add_get("/watch/gameserver", self._watch)
        r.add_get("/v1beta1/counters/{name}", self._get_counter)
        r.add_patch("/v1beta1/counters/{name}", self._update_counter)
        app.middlewares.append(self._record)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def close(self) -> None:
        self.drop_watchers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "AgonesStandIn":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def fail(self, path: str, status: int = 500, times: int | None = None) -> None:
        """Answer ``status`` on ``path`` (every time, or the next ``times`` calls)."""
        self._failures[path] = Failure(status, times)

    def clear_failures(self) -> None:
        self._failures.clear()

    def set_allocated(self) -> None:
        """What a GameServerAllocation does: state Allocated, a new last-allocated stamp; watchers told."""
        self.state = "Allocated"
        self.annotations["agones.dev/last-allocated"] = f"{time.time():.6f}"
        self._changed()

    def drop_watchers(self) -> None:
        """End every open watch stream (as a sidecar restart would)."""
        for q in self._watchers:
            q.put_nowait(None)

    def calls_to(self, path: str, method: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.path == path and (method is None or c.method == method)]

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    # -- the GameServer, as the sidecar's gateway writes it ----------------------------------------------------

    def game_server(self) -> dict:
        return {
            "object_meta": {
                "name": self.name, "namespace": "default", "uid": "1234", "resource_version": str(self._version),
                "generation": "1", "creation_timestamp": "1700000000", "deletion_timestamp": "0",
                "annotations": dict(self.annotations), "labels": dict(self.labels),
            },
            "spec": {"health": {"disabled": False, "period_seconds": 5, "failure_threshold": 3,
                                "initial_delay_seconds": 5}},
            "status": {
                "state": self.state, "address": "127.0.0.1", "addresses": [],
                "ports": [{"name": "default", "port": 7000}], "players": None,
                "counters": {k: {"count": str(v["count"]), "capacity": str(v["capacity"])}
                             for k, v in self.counters.items()},
                "lists": {},
            },
        }

    def _changed(self) -> None:
        self._version += 1
        gs = self.game_server()
        for q in self._watchers:
            q.put_nowait(gs)

    # -- handlers ------------------------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, message: str, code: int = 2) -> web.Response:
        return web.json_response({"code": code, "message": message, "details": []}, status=status)

    @web.middleware
    async def _record(self, request: web.Request, handler):
        body = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                return self._error(400, "invalid JSON body", code=3)
        self.calls.append(Call(request.method, request.path, body, time.monotonic()))
        failure = self._failures.get(request.path)
        if failure is not None:
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[request.path]
            return self._error(failure.status, "stand-in told to fail")
        return await handler(request)

    @staticmethod
    async def _body(request: web.Request) -> dict:
        raw = await request.read()  # read once by the middleware, cached by aiohttp
        return json.loads(raw) if raw.strip() else {}

    async def _state(self, state: str) -> web.Response:
        if self.state != state:
            self.state = state
            self._changed()
        return web.json_response({})

    async def _ready(self, request):
        return await self._state("Ready")

    async def _health(self, request):
        return web.json_response({})

    async def _shutdown(self, request):
        return await self._state("Shutdown")

    async def _allocate(self, request):
        self.set_allocated()
        return web.json_response({})

    async def _reserve(self, request):
        seconds = int((await self._body(request)).get("seconds") or 0)
        if seconds < 0:
            return self._error(400, "seconds must be >= 0", code=3)
        return await self._state("Reserved")

    async def _metadata(self, request, into: dict) -> web.Response:
        body = await self._body(request)
        key = body.get("key")
        if not key:
            return self._error(400, "key cannot be empty", code=3)
        into[PREFIX + key] = str(body.get("value", ""))
        self._changed()
        return web.json_response({})

    async def _label(self, request):
        return await self._metadata(request, self.labels)

    async def _annotation(self, request):
        return await self._metadata(request, self.annotations)

    async def _gameserver(self, request):
        return web.json_response(self.game_server())

    async def _watch(self, request):
        q: asyncio.Queue = asyncio.Queue()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        self._watchers.append(q)
        try:
            q.put_nowait(self.game_server())  # the current GameServer first, as WatchGameServer sends it
            while (gs := await q.get()) is not None:
                await resp.write(json.dumps({"result": gs}).encode() + b"\n")
        except ConnectionResetError:  # the client went away
            pass
        finally:
            self._watchers.remove(q)
        return resp

    def _counter_json(self, name: str) -> dict:
        c = self.counters[name]
        return {"name": name, "count": str(c["count"]), "capacity": str(c["capacity"])}

    async def _get_counter(self, request):
        name = request.match_info["name"]
        if name not in self.counters:  # the sidecar's errors.Errorf: gRPC Unknown, HTTP 500
            return self._error(500, f"counter not found: {name}")
        return web.json_response(self._counter_json(name))

    async def _update_counter(self, request):
        """The sidecar's UpdateCounter: capacity set, then count set, then countDiff; each range-checked."""
        name = request.match_info["name"]
        body = await self._body(request)
        count, capacity = body.get("count"), body.get("capacity")
        diff = int(body.get("countDiff") or 0)
        if count is None and capacity is None and diff == 0:
            return self._error(500, f"invalid argument. Malformed CounterUpdateRequest: {body}")
        if name not in self.counters:
            return self._error(500, f"counter not found: {name}")
        new = dict(self.counters[name])
        if capacity is not None:
            if int(capacity) < 0:
                return self._error(500, "out of range. Capacity must be greater than or equal to 0")
            new["capacity"] = int(capacity)
        if count is not None:
            if not 0 <= int(count) <= new["capacity"]:
                return self._error(500, "out of range. Count must be within range [0,Capacity]")
            new["count"] = int(count)
        if diff:
            if not 0 <= new["count"] + diff <= new["capacity"]:
                return self._error(500, "out of range. Count must be within range [0,Capacity]")
            new["count"] += diff
        if new != self.counters[name]:
            self.counters[name] = new
            self._changed()
        return web.json_response(self._counter_json(name))
