"""Client-side lag injection: a sans-IO endpoint wrapped in the shared network simulator.

Every datagram the wrapped endpoint sends goes through an "up" `netsim.Link` before it reaches the
driver, and every datagram the driver receives goes through a "down" Link before the endpoint sees
it. The driver (or VirtualNetwork) pumps the wrapper exactly like the endpoint itself, so
`--lag/--jitter/--loss/--dup` work against any server, with the same seeded model the tests use.
"""
from __future__ import annotations

import attrs

from .link import Link, LinkConfig, derive_link_seed

PERFECT = LinkConfig()


def symmetric_links(lag_ms: float = 0.0, jitter_ms: float = 0.0, loss_pct: float = 0.0,
                    dup_pct: float = 0.0) -> tuple[LinkConfig, LinkConfig]:
    """(up, down) configs adding `lag_ms` of round-trip time and ±`jitter_ms` of round-trip jitter,
    half each way; loss and duplication apply to each direction."""
    for name, v in (("lag", lag_ms), ("jitter", jitter_ms), ("loss", loss_pct), ("dup", dup_pct)):
        if not v >= 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    if loss_pct > 100 or dup_pct > 100:
        raise ValueError("loss and dup are percentages (0..100)")
    cfg = LinkConfig(latency=lag_ms / 2000.0, jitter=jitter_ms / 2000.0, loss=loss_pct / 100.0,
                     duplicate=dup_pct / 100.0)
    return cfg, cfg


class LaggedEndpoint:
    """A sans-IO endpoint seen through simulated links: `up` for what it sends, `down` for what it receives."""

    def __init__(self, inner, up: LinkConfig = PERFECT, down: LinkConfig = PERFECT, seed: int | None = 0):
        self.inner = inner
        self.up = Link(up, seed=None if seed is None else derive_link_seed(seed, "client", "up"))
        self.down = Link(down, seed=None if seed is None else derive_link_seed(seed, "client", "down"))

    # ------------------------------------------------------------------ configuration

    def set_links(self, up: LinkConfig | None = None, down: LinkConfig | None = None) -> None:
        """Change the impairments; packets already in flight keep the fate they were given."""
        if up is not None:
            self.up.config = up
        if down is not None:
            self.down.config = down

    @property
    def added_rtt(self) -> float:
        """Round-trip latency the links add (without jitter), seconds."""
        return self.up.config.latency + self.down.config.latency

    @property
    def impaired(self) -> bool:
        return self.up.config != PERFECT or self.down.config != PERFECT

    def stats(self) -> dict:
        return {"up": self.up.stats(), "down": self.down.stats(),
                "up_config": attrs.asdict(self.up.config), "down_config": attrs.asdict(self.down.config)}

    # ------------------------------------------------------------------ sans-IO endpoint

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        self.down.send(data, now, meta=addr)

    def update(self, now: float):
        inner = self.inner
        for d in self.down.receive(now):
            inner.receive_datagram(d.data, d.meta, now)
        return inner.update(now)

    def datagrams_to_send(self, now: float) -> list:
        up = self.up
        for data, addr in self.inner.datagrams_to_send(now):
            up.send(data, now, meta=addr)
        return [(d.data, d.meta) for d in up.receive(now)]

    def events(self) -> list:
        return self.inner.events()

    def get_timer(self) -> float | None:
        times = [t for t in (self.inner.get_timer(), self.up.next_delivery_time(), self.down.next_delivery_time())
                 if t is not None]
        return min(times) if times else None
