"""Lag-simulating UDP proxy: ``python tools/lagsim.py --listen HOST:PORT --upstream HOST:PORT [--profile wifi ...]``.

Same as ``netcode lagsim``; see ``python tools/lagsim.py --help`` and docs/LAGSIM.md.
"""
from __future__ import annotations

import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from netcode.cli.lagsim import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
