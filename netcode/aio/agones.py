"""Agones SDK client over the sidecar's REST gateway (asyncio, aiohttp), and the reporter a host runs with it.

Under Agones every game-server Pod has an SDK sidecar that serves the SDK over gRPC and, through
grpc-gateway, over HTTP on ``localhost:$AGONES_SDK_HTTP_PORT`` (Agones sets the variable). A ``netcode host``
process holds many rooms, the "high density game servers" pattern: it says Ready once, pings Health, and
keeps two Counters (``rooms``, ``players``) up to date so allocation and the FleetAutoscaler can see how much
room it has left; it learns that it was Allocated from the WatchGameServer stream.

What this follows (read from googleforgames/agones at v1.56.0-4, commit b19d5fe780b0d08f9e4cc0403c962acdcae199a8):

* ``proto/sdk/sdk.proto`` (stable SDK; the paths are its ``google.api.http`` annotations):
  ``POST /ready``, ``POST /health``, ``POST /shutdown``, ``POST /allocate`` (body ``{}``);
  ``POST /reserve`` ``{"seconds": "N"}``; ``PUT /metadata/label`` and ``PUT /metadata/annotation``
  ``{"key", "value"}`` (the sidecar prefixes the key with ``agones.dev/sdk-``); ``GET /gameserver``;
  ``GET /watch/gameserver``: newline-delimited JSON, one ``{"result": GameServer}`` per update, the current
  GameServer first.
* ``proto/sdk/beta/beta.proto`` (Counters, Beta, feature gate CountsAndLists on by default):
  ``GET /v1beta1/counters/{name}`` and ``PATCH /v1beta1/counters/{name}`` whose body is a
  CounterUpdateRequest: ``{"count": N}`` (set), ``{"capacity": N}`` (set capacity) or ``{"countDiff": N}``
  (increment/decrement; 0 is refused as malformed). No field mask for Counters (only UpdateList has one).
  A count outside ``[0, capacity]`` is refused.
* ``pkg/util/runtime/runtime.go`` (the gateway's JSON): proto field names (``object_meta``,
  ``resource_version``...), unpopulated fields emitted, int64 fields as JSON strings (``"count": "3"``).
* ``site/content/en/docs/Guides/Client SDKs/rest.md``: the sidecar may start after the game server, so the
  first call is retried.

No real sidecar runs in this repository's tests (no Kubernetes here): they run this client against a small
aiohttp stand-in that serves the same paths and JSON shapes (``tests/hosting/agones_standin.py``).
"""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
from collections import Counter
from typing import Any, Awaitable, Callable, Mapping

import aiohttp

log = logging.getLogger("netcode.agones")

ENV_PORT = "AGONES_SDK_HTTP_PORT"
LAST_ALLOCATED = "agones.dev/last-allocated"  # set by Agones on every allocation, state change or not

GameServer = dict  # the sidecar's GameServer JSON: object_meta, spec, status (int64 fields as strings)


class AgonesError(Exception):
    """A call to the SDK sidecar failed: it could not be reached, timed out, or answered an error."""

    def __init__(self, op: str, message: str, status: int | None = None):
        super().__init__(f"agones {op}: {message}" + (f" (HTTP {status})" if status is not None else ""))
        self.op = op
        self.status = status
        self.message = message


def _int(value: Any) -> int:
    return int(value or 0)  # int64 arrives as a JSON string; unpopulated as "0" or absent


class AgonesSDK:
    """The Agones game-server SDK over the sidecar's REST API; every call counted in ``counters``."""

    def __init__(self, base_url: str, *, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.counters: Counter[str] = Counter()  # "<op>_calls", "<op>_failures", shared with a reporter
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs) -> "AgonesSDK | None":
        """The SDK at ``http://localhost:$AGONES_SDK_HTTP_PORT``, or None when the variable is unset (SDK off)."""
        env = os.environ if env is None else env
        port = (env.get(ENV_PORT) or "").strip()
        if not port:
            return None
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{ENV_PORT}={port!r} is not a port number")
        return cls(f"http://localhost:{int(port)}", **kwargs)

    def __repr__(self) -> str:
        return f"AgonesSDK({self.base_url!r})"

    async def __aenter__(self) -> "AgonesSDK":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    @staticmethod
    async def _error_text(resp: aiohttp.ClientResponse) -> str:
        text = await resp.text()
        try:  # grpc-gateway's error body: {"code": <grpc code>, "message": "...", "details": []}
            return str(json.loads(text).get("message") or text)
        except (ValueError, AttributeError):
            return text.strip()[:200] or resp.reason or "error"

    async def _call(self, op: str, method: str, path: str, body: dict | None = None) -> dict:
        self.counters[f"{op}_calls"] += 1
        try:
            async with self._client().request(method, self.base_url + path, json=body) as resp:
                if resp.status >= 400:
                    raise AgonesError(op, await self._error_text(resp), resp.status)
                text = await resp.text()
                return json.loads(text) if text.strip() else {}
        except AgonesError:
            self.counters[f"{op}_failures"] += 1
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
            self.counters[f"{op}_failures"] += 1
            raise AgonesError(op, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from e

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def ready(self) -> None:
        """Mark the GameServer Ready: it can be allocated."""
        await self._call("ready", "POST", "/ready", {})

    async def health(self) -> bool:
        """One health ping. Never raises: a failure is counted (``health_failures``) and answered False."""
        try:
            await self._call("health", "POST", "/health", {})
            return True
        except AgonesError as e:
            log.debug("%s", e)
            return False

    async def shutdown(self) -> None:
        """Mark the GameServer Shutdown: Agones deletes the Pod."""
        await self._call("shutdown", "POST", "/shutdown", {})

    async def allocate(self) -> None:
        """Self-allocate (mark Allocated). Prefer a GameServerAllocation, which lets Agones pack servers."""
        await self._call("allocate", "POST", "/allocate", {})

    async def reserve(self, seconds: int) -> None:
        """Mark Reserved for ``seconds`` (0: until something else changes the state)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        await self._call("reserve", "POST", "/reserve", {"seconds": str(int(seconds))})

    # -- metadata ----------------------------------------------------------------------------------------------

    async def set_label(self, key: str, value: str) -> None:
        """Set the label ``agones.dev/sdk-<key>`` (the sidecar adds the prefix) to ``value``."""
        await self._call("set_label", "PUT", "/metadata/label", {"key": key, "value": value})

    async def set_annotation(self, key: str, value: str) -> None:
        """Set the annotation ``agones.dev/sdk-<key>`` to ``value``."""
        await self._call("set_annotation", "PUT", "/metadata/annotation", {"key": key, "value": value})

    # -- configuration -----------------------------------------------------------------------------------------

    async def game_server(self) -> GameServer:
        """The backing GameServer as the sidecar sends it (proto field names, int64 fields as strings)."""
        return await self._call("game_server", "GET", "/gameserver")

    async def watch(self, callback: Callable[[GameServer], Any]) -> None:
        """Read the WatchGameServer stream, calling ``callback(game_server)`` (sync or async) for each update,
        the current GameServer first. Returns when the sidecar ends the stream; raises AgonesError if it
        can't be opened or breaks. Cancel the task to stop watching."""
        op = "watch"
        self.counters[f"{op}_calls"] += 1
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout)
        try:
            async with self._client().get(self.base_url + "/watch/gameserver", timeout=timeout) as resp:
                if resp.status >= 400:
                    raise AgonesError(op, await self._error_text(resp), resp.status)
                buf = b""
                async for chunk in resp.content.iter_any():  # lines may span chunks; no line-length limit
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        await self._watched(line, callback)
                if buf.strip():
                    await self._watched(buf, callback)
        except AgonesError:
            self.counters[f"{op}_failures"] += 1
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            self.counters[f"{op}_failures"] += 1
            raise AgonesError(op, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__) from e

    async def _watched(self, line: bytes, callback: Callable[[GameServer], Any]) -> None:
        if not line.strip():
            return
        try:
            msg = json.loads(line)
        except ValueError as e:
            raise AgonesError("watch", f"not JSON: {line[:80]!r}") from e
        if "error" in msg and not msg.get("result"):
            err = msg["error"] or {}
            raise AgonesError("watch", str(err.get("message", err)))
        self.counters["watch_updates"] += 1
        out = callback(msg.get("result", msg))
        if inspect.isawaitable(out):
            await out

    # -- counters (beta) ---------------------------------------------------------------------------------------

    @staticmethod
    def _counter(msg: dict) -> dict:
        return {"name": msg.get("name", ""), "count": _int(msg.get("count")), "capacity": _int(msg.get("capacity"))}

    async def get_counter(self, name: str) -> dict:
        """``{"name", "count", "capacity"}`` (ints) of a Counter the GameServer spec declares."""
        return self._counter(await self._call("get_counter", "GET", f"/v1beta1/counters/{name}"))

    async def set_counter(self, name: str, count: int, *, capacity: int | None = None) -> dict:
        """Set a Counter's count (and its capacity first, if given); answers the Counter as it will be."""
        body = {"count": str(int(count))}
        if capacity is not None:
            body["capacity"] = str(int(capacity))
        return self._counter(await self._call("set_counter", "PATCH", f"/v1beta1/counters/{name}", body))

    async def update_counter(self, name: str, count_diff: int) -> dict:
        """Add ``count_diff`` (negative: subtract) to a Counter's count."""
        if not count_diff:
            raise ValueError("count_diff must not be 0 (the sidecar refuses an empty update)")
        body = {"countDiff": str(int(count_diff))}
        return self._counter(await self._call("update_counter", "PATCH", f"/v1beta1/counters/{name}", body))

    async def set_counter_capacity(self, name: str, capacity: int) -> dict:
        """Set a Counter's capacity (>= 0)."""
        body = {"capacity": str(int(capacity))}
        return self._counter(await self._call("set_counter_capacity", "PATCH", f"/v1beta1/counters/{name}", body))


def state_of(gs: GameServer | None) -> str | None:
    """``status.state`` of a GameServer dict (Ready, Allocated, Reserved, Shutdown...)."""
    return ((gs or {}).get("status") or {}).get("state") or None


def public_address(gs: GameServer | None, port_name: str | None = None) -> str | None:
    """``"HOST:PORT"`` players reach this GameServer at: ``status.address`` (the node's) and the host port of
    the port named ``port_name`` (default: the first). None until Agones has filled them in (from Scheduled
    on). With a Dynamic port policy this is the only place the public port is known."""
    status = (gs or {}).get("status") or {}
    ports = [p for p in status.get("ports") or [] if port_name is None or p.get("name") == port_name]
    address, port = status.get("address"), _int(ports[0].get("port")) if ports else 0
    if not address or not port:
        return None
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class AgonesReporter:
    """What a host runs beside its rooms when the SDK is on: Ready at ``start()``, a Health ping every
    ``health_period`` seconds, the ``rooms`` and ``players`` Counters following ``rooms()`` / ``players()``
    (pushed only when changed, checked every ``counter_period`` seconds), the GameServer watched (``state``,
    ``allocated``, ``on_allocated``), Shutdown at ``drain()``. ``stop()`` cancels its tasks.

    Counts calls and failures in ``counters`` (the SDK's ``<op>_calls`` / ``<op>_failures`` and
    ``watch_updates``, ``watch_restarts``, ``allocations``, ``count_errors``) for metrics.

    The Counters are *set* to what the host counts, so the host is their only writer: a GameServerAllocation
    with a ``counters: {rooms: {action: Increment}}`` would be overwritten by the next change the host reports.
    """

    def __init__(self, sdk: AgonesSDK, *,
                 rooms: Callable[[], int] | None = None,
                 players: Callable[[], int] | None = None,
                 rooms_capacity: int | None = None,
                 players_capacity: int | None = None,
                 rooms_counter: str = "rooms",
                 players_counter: str = "players",
                 health_period: float = 2.0,
                 counter_period: float = 1.0,
                 allocated_label: tuple[str, str] | None = None,
                 on_allocated: Callable[[GameServer], Any] | None = None,
                 on_game_server: Callable[[GameServer], Any] | None = None,
                 watch: bool = True,
                 ready_timeout: float = 30.0,
                 retry_period: float = 0.5):
        if health_period <= 0 or counter_period <= 0 or retry_period <= 0:
            raise ValueError("periods must be > 0")
        self.sdk = sdk
        self.health_period = health_period
        self.counter_period = counter_period
        self.allocated_label = allocated_label
        self.on_allocated = on_allocated
        self.on_game_server = on_game_server
        self.watching = watch
        self.ready_timeout = ready_timeout
        self.retry_period = retry_period
        # counter name -> the host's callable; capacities still to set; the last count the sidecar took
        self._sources: dict[str, Callable[[], int]] = {}
        self._capacity: dict[str, int] = {}
        for name, source, capacity in ((rooms_counter, rooms, rooms_capacity),
                                       (players_counter, players, players_capacity)):
            if source is not None:
                self._sources[name] = source
                if capacity is not None:
                    self._capacity[name] = capacity
        self.reported: dict[str, int] = {}
        self.counters = sdk.counters
        self.game_server: GameServer | None = None  # the last one the watch saw
        self.state: str | None = None
        self.allocated = False
        self._last_allocated: str | None = None
        self._tasks: list[asyncio.Task] = []
        self._drained = False

    # -- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Ready, retried for ``ready_timeout`` seconds while the sidecar is not up yet (then AgonesError);
        then the counts (with the capacities given); then the background tasks start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        while True:
            try:
                await self.sdk.ready()
                break
            except AgonesError as e:
                if loop.time() + self.retry_period > deadline:
                    raise
                log.info("%s; retrying", e)
                await asyncio.sleep(self.retry_period)
        await self.sync_counters()
        self._spawn(self._health_loop(), "agones-health")
        if self._sources:
            self._spawn(self._counter_loop(), "agones-counters")
        if self.watching:
            self._spawn(self._watch_loop(), "agones-watch")

    async def drain(self) -> None:
        """The host is done: report the final counts, then Shutdown (Agones deletes the Pod). Health pings go
        on until ``stop()``. Raises AgonesError if the sidecar refuses Shutdown."""
        if self._drained:
            return
        await self.sync_counters()
        await self.sdk.shutdown()
        self._drained = True

    async def stop(self, *, close: bool = True) -> None:
        """Cancel the background tasks and wait for them; close the SDK's HTTP session unless ``close=False``."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if close:
            await self.sdk.close()

    @property
    def running(self) -> bool:
        return any(not t.done() for t in self._tasks)

    def _spawn(self, coro: Awaitable, name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    # -- health ------------------------------------------------------------------------------------------------

    async def _health_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        failing = False
        while True:
            ok = await self.sdk.health()  # never raises
            if ok == failing:  # log the transitions only, not every ping
                failing = not ok
                (log.warning if failing else log.info)("agones health ping %s", "failing" if failing else "back")
            due += self.health_period
            now = loop.time()
            if due < now:  # a slow call: keep the period from now rather than pinging in a burst
                due = now
            await asyncio.sleep(due - now)

    # -- counters ----------------------------------------------------------------------------------------------

    async def sync_counters(self) -> None:
        """Push every Counter whose host value differs from what the sidecar last took, with its capacity while
        that has not been taken yet. A failure is counted (``set_counter_failures``) and retried next check."""
        for name, source in self._sources.items():
            try:
                value = max(0, int(source()))
            except Exception:  # the host's callable: count it, keep reporting the others
                self.counters["count_errors"] += 1
                log.exception("agones: counting %s failed", name)
                continue
            capacity = self._capacity.get(name)
            if capacity is None and self.reported.get(name) == value:
                continue
            try:
                await self.sdk.set_counter(name, value, capacity=capacity)
            except AgonesError as e:
                log.warning("%s", e)
                continue
            self.reported[name] = value
            self._capacity.pop(name, None)

    async def _counter_loop(self) -> None:
        while True:
            await asyncio.sleep(self.counter_period)
            await self.sync_counters()

    # -- watch -------------------------------------------------------------------------------------------------

    async def _watch_loop(self) -> None:
        while True:
            try:
                await self.sdk.watch(self._on_game_server)
                log.info("agones watch stream ended; reopening")
            except AgonesError as e:
                log.warning("%s; reopening", e)
            except Exception:  # a host callback raised: keep watching
                self.counters["watch_callback_errors"] += 1
                log.exception("agones: a watch callback failed")
            self.counters["watch_restarts"] += 1
            await asyncio.sleep(self.retry_period)

    async def _on_game_server(self, gs: GameServer) -> None:
        self.game_server = gs
        self.state = state_of(gs)
        annotations = (gs.get("object_meta") or {}).get("annotations") or {}
        stamp = annotations.get(LAST_ALLOCATED)
        newly = self.state == "Allocated" and (not self.allocated or (stamp and stamp != self._last_allocated))
        self.allocated = self.state == "Allocated"
        self._last_allocated = stamp or self._last_allocated
        if self.on_game_server is not None:
            out = self.on_game_server(gs)
            if inspect.isawaitable(out):
                await out
        if not newly:
            return
        self.counters["allocations"] += 1
        if self.allocated_label is not None:
            try:
                await self.sdk.set_label(*self.allocated_label)
            except AgonesError as e:
                log.warning("%s", e)
        if self.on_allocated is not None:
            out = self.on_allocated(gs)
            if inspect.isawaitable(out):
                await out
