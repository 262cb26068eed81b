"""The Agones SDK client and the host's reporter, observed through a stand-in sidecar on loopback
(agones_standin.py: the REST paths of Agones v1.56's sdk.proto and beta.proto). No real sidecar runs here."""
from __future__ import annotations

import asyncio
import time

import pytest

from agones_standin import PREFIX, AgonesStandIn
from netcode.aio.agones import AgonesError, AgonesReporter, AgonesSDK, public_address


def run(coro, timeout: float = 8.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def until(predicate, timeout: float = 3.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


def test_from_env_is_off_without_the_variable():
    assert AgonesSDK.from_env({}) is None
    assert AgonesSDK.from_env({"AGONES_SDK_HTTP_PORT": ""}) is None
    sdk = AgonesSDK.from_env({"AGONES_SDK_HTTP_PORT": "9358"})
    assert sdk is not None and sdk.base_url == "http://localhost:9358"
    with pytest.raises(ValueError, match="not a port"):
        AgonesSDK.from_env({"AGONES_SDK_HTTP_PORT": "nine"})


def test_each_call_uses_the_sidecars_rest_path_and_body():
    async def main():
        async with AgonesStandIn() as sidecar, AgonesSDK(sidecar.url) as sdk:
            await sdk.ready()
            assert await sdk.health() is True
            await sdk.set_label("session-ready", "true")
            await sdk.set_annotation("build", "abc")
            await sdk.reserve(5)
            await sdk.allocate()
            assert await sdk.set_counter("rooms", 3) == {"name": "rooms", "count": 3, "capacity": 10}
            assert (await sdk.update_counter("rooms", -1))["count"] == 2
            assert (await sdk.set_counter_capacity("rooms", 20))["capacity"] == 20
            assert await sdk.get_counter("rooms") == {"name": "rooms", "count": 2, "capacity": 20}
            gs = await sdk.game_server()
            await sdk.shutdown()
            seen = [(c.method, c.path, c.body) for c in sidecar.calls]
            assert seen == [
                ("POST", "/ready", {}),
                ("POST", "/health", {}),
                ("PUT", "/metadata/label", {"key": "session-ready", "value": "true"}),
                ("PUT", "/metadata/annotation", {"key": "build", "value": "abc"}),
                ("POST", "/reserve", {"seconds": "5"}),
                ("POST", "/allocate", {}),
                ("PATCH", "/v1beta1/counters/rooms", {"count": "3"}),
                ("PATCH", "/v1beta1/counters/rooms", {"countDiff": "-1"}),
                ("PATCH", "/v1beta1/counters/rooms", {"capacity": "20"}),
                ("GET", "/v1beta1/counters/rooms", None),
                ("GET", "/gameserver", None),
                ("POST", "/shutdown", {}),
            ]
            assert gs["status"]["state"] == "Allocated"
            assert gs["object_meta"]["labels"] == {PREFIX + "session-ready": "true"}
            assert gs["status"]["counters"]["rooms"] == {"count": "2", "capacity": "20"}
            assert public_address(gs) == public_address(gs, "default") == "127.0.0.1:7000"
            assert public_address(gs, "other") is None and public_address({}) is None
            assert sidecar.state == "Shutdown"
            # errors: one exception type, with the sidecar's message and status; counted
            with pytest.raises(AgonesError, match="counter not found: nope") as e:
                await sdk.get_counter("nope")
            assert e.value.status == 500 and e.value.op == "get_counter"
            with pytest.raises(AgonesError, match="out of range"):
                await sdk.set_counter("rooms", 21)
            with pytest.raises(ValueError):
                await sdk.update_counter("rooms", 0)
            assert sdk.counters["get_counter_failures"] == 1 and sdk.counters["set_counter_failures"] == 1
            assert sdk.counters["ready_calls"] == 1 and sdk.counters["health_calls"] == 1
        # nothing listening: AgonesError too, not an aiohttp exception
        async with AgonesSDK(sidecar.url, timeout=1.0) as gone:
            with pytest.raises(AgonesError, match="ready"):
                await gone.ready()
            assert await gone.health() is False
    run(main())


def test_ready_at_start_health_at_its_period_and_stop_ends_it():
    async def main():
        async with AgonesStandIn() as sidecar:
            sidecar.fail("/ready", 503, times=2)  # the sidecar is not up yet: start retries
            reporter = AgonesReporter(AgonesSDK(sidecar.url), health_period=0.1, retry_period=0.05, watch=False)
            await reporter.start()
            assert sidecar.state == "Ready" and len(sidecar.calls_to("/ready")) == 3
            t0 = time.monotonic()
            await asyncio.sleep(1.0)
            pings = [c for c in sidecar.calls_to("/health") if c.t >= t0]
            assert len(pings) >= 5  # ~10 at 0.1 s
            await reporter.stop()
            assert not reporter.running
            n = len(sidecar.calls_to("/health"))
            await asyncio.sleep(0.3)
            assert len(sidecar.calls_to("/health")) == n  # no ping after stop
            assert reporter.counters["ready_failures"] == 2 and reporter.counters["health_failures"] == 0
    run(main())


def test_ready_gives_up_after_its_timeout():
    async def main():
        async with AgonesStandIn() as sidecar:
            sidecar.fail("/ready", 503)
            reporter = AgonesReporter(AgonesSDK(sidecar.url), ready_timeout=0.3, retry_period=0.05)
            with pytest.raises(AgonesError, match="HTTP 503"):
                await reporter.start()
            assert not reporter.running
            await reporter.stop()
    run(main())


def test_rooms_and_players_counters_follow_the_host():
    async def main():
        counts = {"rooms": 0, "players": 0}
        async with AgonesStandIn() as sidecar:
            reporter = AgonesReporter(AgonesSDK(sidecar.url), rooms=lambda: counts["rooms"],
                                      players=lambda: counts["players"], rooms_capacity=8,
                                      counter_period=0.05, health_period=0.5, watch=False)
            await reporter.start()
            assert sidecar.counters["rooms"] == {"count": 0, "capacity": 8}
            assert sidecar.counters["players"] == {"count": 0, "capacity": 100}  # no capacity given: kept
            for rooms, players in ((3, 7), (1, 2)):
                counts.update(rooms=rooms, players=players)
                await until(lambda: sidecar.counters["rooms"]["count"] == rooms
                            and sidecar.counters["players"]["count"] == players)
            await asyncio.sleep(0.3)  # unchanged: nothing more is sent
            patches = [c.body for c in sidecar.calls_to("/v1beta1/counters/rooms", "PATCH")]
            assert patches == [{"count": "0", "capacity": "8"}, {"count": "3"}, {"count": "1"}]
            assert len(sidecar.calls_to("/v1beta1/counters/players", "PATCH")) == 3
            # a count the sidecar refuses (over capacity) is counted and retried; the reporter goes on
            counts["rooms"] = 9
            await until(lambda: reporter.counters["set_counter_failures"] >= 2)
            assert reporter.running and sidecar.counters["rooms"]["count"] == 1
            counts["rooms"] = 4
            await until(lambda: sidecar.counters["rooms"]["count"] == 4)
            await reporter.stop()
    run(main())


def test_watch_sees_allocated_and_sets_the_label():
    async def main():
        async with AgonesStandIn() as sidecar:
            seen = []
            reporter = AgonesReporter(AgonesSDK(sidecar.url), health_period=0.5, retry_period=0.05,
                                      allocated_label=("session", "allocated"), on_allocated=seen.append)
            await reporter.start()
            await until(lambda: reporter.state == "Ready")
            assert not reporter.allocated and not seen
            sidecar.set_allocated()
            await until(lambda: reporter.allocated and len(seen) == 1)
            assert seen[0]["status"]["state"] == "Allocated"
            await until(lambda: sidecar.labels.get(PREFIX + "session") == "allocated")
            # re-allocated while Allocated (high density: another room): a new last-allocated stamp
            await asyncio.sleep(0.01)
            sidecar.set_allocated()
            await until(lambda: len(seen) == 2)
            assert reporter.counters["allocations"] == 2
            # the sidecar ends the stream: the reporter reopens it, and the same allocation is not seen twice
            sidecar.drop_watchers()
            await until(lambda: reporter.counters["watch_restarts"] >= 1 and sidecar.watchers == 1)
            await asyncio.sleep(0.1)
            assert len(seen) == 2 and reporter.allocated
            await reporter.stop()
    run(main())


def test_drain_sends_shutdown():
    async def main():
        rooms = [2]
        async with AgonesStandIn() as sidecar:
            reporter = AgonesReporter(AgonesSDK(sidecar.url), rooms=lambda: rooms[0], health_period=0.5,
                                      counter_period=5.0, watch=False)
            await reporter.start()
            rooms[0] = 0
            await reporter.drain()  # the final count first, then Shutdown
            assert sidecar.state == "Shutdown" and sidecar.counters["rooms"]["count"] == 0
            assert [c.path for c in sidecar.calls if c.method != "POST" or c.path != "/health"][-2:] == [
                "/v1beta1/counters/rooms", "/shutdown"]
            await reporter.drain()  # once only
            assert len(sidecar.calls_to("/shutdown")) == 1
            await reporter.stop()
    run(main())


def test_failing_health_is_counted_and_does_not_crash():
    async def main():
        async with AgonesStandIn() as sidecar:
            reporter = AgonesReporter(AgonesSDK(sidecar.url), health_period=0.05, watch=False)
            await reporter.start()
            sidecar.fail("/health", 500)
            await until(lambda: reporter.counters["health_failures"] >= 3)
            assert reporter.running
            sidecar.clear_failures()
            ok = reporter.counters["health_calls"] - reporter.counters["health_failures"]
            await until(lambda: reporter.counters["health_calls"] - reporter.counters["health_failures"] >= ok + 2)
            await reporter.stop()
    run(main())
