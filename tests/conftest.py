"""Shared by every test folder: the tests' own helpers on the path, pygame without a display, and a guard
that no test leaves a file in the repository's replays/ (tests record into their own tmp_path)."""
import os
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPLAYS = TESTS.parent / "replays"
sys.path.insert(0, str(TESTS))  # helpers.py, tag_game.py, crash.py

# The demo client's tests run pygame without a display.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

_before: set = set()


def pytest_sessionstart(session):
    _before.update(REPLAYS.glob("*"))


def pytest_sessionfinish(session, exitstatus):
    stray = sorted(str(p.relative_to(TESTS.parent)) for p in set(REPLAYS.glob("*")) - _before)
    if stray and not hasattr(session.config, "workerinput"):  # once, in the controlling process
        print(f"\ntests left files in the repository: {', '.join(stray)}", file=sys.stderr)
        session.exitstatus = 1
