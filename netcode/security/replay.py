"""Replay protection (netcode.io 1.02 STANDARD.md, "Replay Protection"): a 256-entry window over 64-bit
packet sequences. Anything older than the window, or seen in it, is refused before decryption; a packet
marks its entry only after it decrypted, so a forged sequence can't poison the window."""
from __future__ import annotations

REPLAY_BUFFER = 256
_EMPTY = (1 << 64) - 1


class ReplayProtection:
    """Which of the last REPLAY_BUFFER sequences were received."""

    __slots__ = ("most_recent", "received")

    def __init__(self):
        self.most_recent = 0
        self.received = [_EMPTY] * REPLAY_BUFFER

    def already_received(self, seq: int) -> bool:
        if seq + REPLAY_BUFFER <= self.most_recent:
            return True  # older than the window: can't tell, so refuse (never accepted twice)
        seen = self.received[seq & (REPLAY_BUFFER - 1)]
        return seen != _EMPTY and seen >= seq

    def advance(self, seq: int) -> None:
        if seq > self.most_recent:
            self.most_recent = seq
        self.received[seq & (REPLAY_BUFFER - 1)] = seq
