"""Light lockstep load bots (netcode.aio.loadbot) over loopback: they play like non-simulating clients."""
import asyncio

from netcode.aio.driver import run
from netcode.aio.lockstep import run_lockstep_bots, serve_lockstep


def _play(light: bool) -> tuple[dict, dict]:
    async def main():
        ready = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve_lockstep("127.0.0.1", 0, frame_rate=30, input_delay=2, players_per_match=4,
                                                   matches=2, duration=8.0, stats_every=60, ready=ready.set_result,
                                                   until_empty=True, warmup=1.0))
        runner = await ready
        bots = await run_lockstep_bots(runner.address, 8, 3.0, simulating=1, quiet=True, warmup=1.0, light=light)
        return bots, await server

    return run(main(), loop="asyncio")


def test_load_bots_play_and_cost_the_server_what_clients_do():
    bots, stats = _play(light=True)
    assert bots["connected_throughout"] == 8 and bots["light_load_bots"] == 7
    assert stats["desyncs"] == 0 and stats["frames"] > 80
    load = [c for c in stats["per_client"] if c["name"] != "bot0"]
    # every load bot sent its inputs in time and acknowledged the bundles (the server's redundancy stays low)
    assert all(c["messages_in"] > 60 for c in load)
    # "missing" means an input that never came (a late one goes to the next open frame). Bots and server share
    # one process here, and a starved process skips frames: 353 of 488 inputs missed on a slow runner. The
    # bound says over a quarter of all inputs came; seven silent load bots of eight would miss 7/8
    assert stats["missing_inputs"] < 0.75 * stats["frames"] * 4
    full, _ = _play(light=False)
    # the same lockstep traffic as full (non-simulating) clients, within run-to-run noise: two real-time runs, and
    # the suite runs on two workers, so a busy machine shifts when inputs go out and how many are resent (up to 1.5x
    # seen under load either way; 1/0.598 once, on a runner at 2.5x its usual time per test, in the full clients' run)
    for key in ("up_bits_per_s_per_client", "down_bits_per_s_per_client"):
        assert 0.5 < bots[key] / full[key] < 2.0, key
