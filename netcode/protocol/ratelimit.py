"""Token buckets for what clients may ask of a server: so many per second, a burst, then dropped and counted.

Sans-IO like everything under netcode/protocol: the caller passes ``now``. A client that keeps pushing
past its limit is abusive, not merely busy: ``abusive`` says so once its drops within a window pass a
bound, and the server disconnects it rather than let it cost the others.
"""
from __future__ import annotations

import attrs


@attrs.frozen
class RateLimit:
    """``rate`` tokens per second, at most ``burst`` saved up; ``abuse`` drops within ``window`` s mean abuse."""

    rate: float
    burst: float
    abuse: int = 50
    window: float = 10.0


@attrs.define
class Bucket:
    """One client's bucket for one kind of request."""

    limit: RateLimit
    tokens: float = attrs.field(default=None)
    at: float | None = None
    dropped: int = 0  # in all
    _window_start: float = 0.0
    _window_drops: int = 0

    def __attrs_post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = self.limit.burst

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Whether the request at ``now`` is allowed (and pay for it); a refused one counts as dropped."""
        lim = self.limit
        if self.at is not None and now > self.at:
            self.tokens = min(lim.burst, self.tokens + (now - self.at) * lim.rate)
        self.at = now if self.at is None else max(self.at, now)
        if self.tokens >= cost:
            self.tokens -= cost
            return True
        self.dropped += 1
        if now - self._window_start > lim.window:
            self._window_start, self._window_drops = now, 0
        self._window_drops += 1
        return False

    @property
    def abusive(self) -> bool:
        """More than the limit's ``abuse`` drops within one window."""
        return self._window_drops > self.limit.abuse
