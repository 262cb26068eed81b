"""Killing a recording process in real time, for the replay crash-safety tests."""
import os
import signal
import time

from netcode.replay import ReplayError, info


def sigkill_once_recorded(proc, find_path, min_tick: int, timeout: float = 30.0) -> None:
    """Poll the replay ``find_path()`` names (None: not there yet) until it holds ``min_tick``, then
    SIGKILL ``proc``; the process never outlives the call."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # a real subprocess in real time: poll its file
            time.sleep(0.1)
            path = find_path()
            try:
                if path is not None and info(path)["last_tick"] >= min_tick:
                    break
            except ReplayError:
                pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
