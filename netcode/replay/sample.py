"""Regenerate the sample replay: `python -m netcode.replay.sample [PATH]` (default replays/sample.ncr).

A 30-second seeded bot match (4 bots sending their rendered views, so shots are rewound; 100 NPCs)
played in virtual time over a simulated 30 ms link, recorded, then verified.
"""
from __future__ import annotations

import sys

from .bench import run


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else "replays/sample.ncr"
    r = run(seconds=30.0, bots=4, npcs=100, views=True, seed=7, path=path)
    print(f"wrote {path}: {r['bytes']} bytes, {r['duration_s']:.1f} s, {r['players']} players, "
          f"{r['shots_rewound']} rewound shots; verifies at {r['verify_speed_x_realtime']:.0f}x real time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
