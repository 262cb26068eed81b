"""Regenerate the sample replays: `python -m netcode.bench.sample [--lockstep] [PATH]`.

Default: replays/sample.ncr, a 30-second seeded state-sync bot match (4 bots sending their rendered
views, so shots are rewound; 100 NPCs) played in virtual time over a simulated 30 ms link, recorded,
then verified. ``--lockstep``: replays/sample-lockstep.ncr, a 30-second seeded 6-player lockstep
match at 15 Hz recorded by the lockstep server, then verified.
"""
from __future__ import annotations

import sys

from .replay import run, run_lockstep


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    lockstep = "--lockstep" in argv
    if lockstep:
        argv.remove("--lockstep")
        path = argv[0] if argv else "replays/sample-lockstep.ncr"
        r = run_lockstep(seconds=30.0, players=6, seed=7, path=path)
        print(f"wrote {path}: {r['bytes']} bytes, {r['duration_s']:.1f} s, {r['players']} players at "
              f"{r['frame_rate']} Hz; verifies at {r['verify_speed_x_realtime']:.0f}x real time")
        return 0
    path = argv[0] if argv else "replays/sample.ncr"
    r = run(seconds=30.0, bots=4, npcs=100, views=True, seed=7, path=path)
    print(f"wrote {path}: {r['bytes']} bytes, {r['duration_s']:.1f} s, {r['players']} players, "
          f"{r['shots_rewound']} rewound shots; verifies at {r['verify_speed_x_realtime']:.0f}x real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
