"""Crash-safe match recording, verification by re-simulation, seeking and info (docs/REPLAY.md)."""

from .format import FORMAT_VERSION, MAGIC, Kind, ReplayError
from .reader import ReplayReader
from .verify import Playback, VerifyResult, audit, info, seek, verify
from .writer import MatchRecorder, ReplayWriter

__all__ = ["FORMAT_VERSION", "Kind", "MAGIC", "MatchRecorder", "Playback", "ReplayError", "ReplayReader", "ReplayWriter",
           "VerifyResult", "audit", "info", "seek", "verify"]
