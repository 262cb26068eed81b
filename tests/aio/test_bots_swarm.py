"""The bot swarm's extensions: a lag proxy in front of the server, behaviour mixes, churn (loopback, bounded)."""
from __future__ import annotations

import asyncio

import pytest

from netcode.aio import bots as aio_bots
from netcode.aio.bots import run_bots
from netcode.aio.driver import run
from netcode.aio.serve import ServerRunner
from netcode.bots import NoBots, assign_behaviours, default_mix, make_brain, parse_mix
from netcode.games.arena import BEHAVIOURS, GAME
from netcode.statesync.server import ServerConfig, StateSyncServer

DEFAULT_MIX = default_mix(GAME)


async def _server():
    core = StateSyncServer.for_game(GAME, ServerConfig(max_clients=32), seed=3, options={"npcs": 100})
    return await ServerRunner.start(core, "127.0.0.1", 0)


def test_parse_and_assign_mix():
    assert DEFAULT_MIX == {"idle": 1, "wander": 2, "fight": 5}
    assert parse_mix("idle=1, wander=2,fight=5", BEHAVIOURS) == DEFAULT_MIX
    for bad, words in (("jump=1", "unknown behaviour"), ("idle", "BEHAVIOUR=WEIGHT"), ("idle=x", "whole number"),
                       ("idle=0", "at least one weight"), ("idle=-1", ">= 0")):
        with pytest.raises(ValueError, match=words):
            parse_mix(bad, BEHAVIOURS)
    assert parse_mix("jump=2") == {"jump": 2}  # behaviours are checked once the server names its game
    with pytest.raises(NoBots, match="idle, wander, fight"):
        make_brain(GAME, 1, "jump")
    got = assign_behaviours(64, DEFAULT_MIX, seed=5)
    assert (got.count("idle"), got.count("wander"), got.count("fight")) == (8, 16, 40)
    assert got == assign_behaviours(64, DEFAULT_MIX, seed=5) != assign_behaviours(64, DEFAULT_MIX, seed=6)
    assert sorted(assign_behaviours(3, {"idle": 1, "fight": 1})) in (["fight", "fight", "idle"],
                                                                     ["fight", "idle", "idle"])


def test_plain_signature_still_works():
    async def main():
        server = await _server()
        try:
            return await run_bots(server.address, 3, 2.0, "wander", 1, None, True, 1)
        finally:
            await server.close()

    s = run(main())
    assert s["connected_throughout"] == 3 and s["unexpected_disconnects"] == 0 and s["proxy"] is None
    assert s["behaviours"] == {"wander": 3}


def test_through_proxy_with_mix_and_churn(monkeypatch):
    monkeypatch.setattr(aio_bots, "TOKEN_REJOIN_FRACTION", 0.5)
    seen = {}

    async def main():
        server = await _server()
        try:
            seen["addrs"], seen["clients"] = set(), 0

            async def watch():
                while True:
                    await asyncio.sleep(0.05)
                    seen["addrs"] |= {c.addr for c in server.core.transport.connections.values()}
                    seen["clients"] = max(seen["clients"], len(server.core.clients))
            w = asyncio.create_task(watch())
            s = await run_bots(server.address, 6, 9.0, behaviour="mixed", seed=2, quiet=True, through="wifi",
                               churn=60.0)
            w.cancel()
            return s, dict(server.core.counters)
        finally:
            await server.close()

    s, counters = run(main())
    # the server saw six distinct peers: the proxy's per-bot upstream sockets, not the proxy's one port
    assert seen["clients"] == 6
    assert len(seen["addrs"]) == s["proxy"]["sessions"] == 6 + s["reconnects"]
    assert all(addr[0] == "127.0.0.1" for addr in seen["addrs"])
    assert s["proxy"]["profile"] == "wifi" and s["proxy"]["up_forwarded"] > 0
    assert s["behaviours"] == {"idle": 1, "wander": 1, "fight": 4}
    assert s["unexpected_disconnects"] == 0 and s["bots_lost"] == 0, s["per_bot"]
    assert s["expected_disconnects"] >= 2
    assert s["reconnects"] == s["reconnects_token"] + s["reconnects_new"] >= 1
    assert s["connected_throughout"] == 6
    assert counters.get("rejoins", 0) == s["rejoined_slot_kept"] <= s["reconnects_token"]
    assert counters["joins"] == 6 + s["reconnects_new"] + (s["reconnects_token"] - s["rejoined_slot_kept"])
    assert sum(r["sessions"] for r in s["per_bot"]) >= 6 + s["reconnects"] - 1


def test_server_going_away_is_an_unexpected_disconnect():
    async def main():
        server = await _server()
        stop = asyncio.Event()

        async def kill():
            await asyncio.sleep(2.0)
            await server.close()  # sends DISCONNECT to everyone: the bots did not ask for it
            await asyncio.sleep(1.0)
            stop.set()
        k = asyncio.create_task(kill())
        s = await run_bots(server.address, 3, 10.0, quiet=True, through="lan", stop=stop)
        await k
        return s

    s = run(main())
    assert s["unexpected_disconnects"] == 3 and s["bots_lost"] == 3 and s["connected_throughout"] == 0
    assert s["expected_disconnects"] == 0
    assert all(r["lost"] for r in s["per_bot"])
