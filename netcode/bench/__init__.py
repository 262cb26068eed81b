"""Benchmarks behind `netcode bench`: each suite measures its own baseline in the same run."""
from __future__ import annotations

import importlib

# suite name -> module with bench(quick=..., progress=...) -> {"suite", "metrics", ...}
SUITES = {
    "transport": "netcode.bench.transport",
    "statesync": "netcode.bench.statesync",
    "rewind": "netcode.bench.rewind",
    "lockstep": "netcode.bench.lockstep",
    "replay": "netcode.bench.replay",
    "football": "netcode.bench.football",
    "host": "netcode.bench.host",
}


def run_suite(name: str, quick: bool, progress=None) -> dict:
    return importlib.import_module(SUITES[name]).bench(quick=quick, progress=progress)
