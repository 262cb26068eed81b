"""Lockstep over real loopback UDP: the asyncio server front and bots, in one event loop (a few seconds)."""
import asyncio
import json

from netcode.aio.driver import run
from netcode.lockstep.aio import run_lockstep_bots, serve_lockstep


def test_serve_and_bots_play_a_lockstep_match_over_loopback(tmp_path):
    sjson, bjson = tmp_path / "server.json", tmp_path / "bots.json"

    async def main():
        ready = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve_lockstep("127.0.0.1", 0, frame_rate=30, input_delay=4, players_per_match=3,
                                                   matches=4, duration=8.0, json_path=str(sjson), stats_every=60,
                                                   ready=ready.set_result, until_empty=True))
        runner = await ready
        bots = await run_lockstep_bots(runner.address, 6, 3.5, json_path=str(bjson), simulating=4, quiet=True)
        stats = await server
        return bots, stats

    bots, stats = run(main(), loop="asyncio")
    assert bots["connected_throughout"] == 6
    assert bots["synced"] == 4  # every simulating bot passed its checksum handshake
    assert stats["desyncs"] == 0 and stats["frames"] > 100 and stats["matches"] == 2
    reports = [r for r in bots["per_bot"] if r["simulate"]]
    assert all(r["checksums"] >= 2 for r in reports)
    assert json.loads(sjson.read_text())["frames"] == stats["frames"]
    assert json.loads(bjson.read_text())["bots"] == 6
