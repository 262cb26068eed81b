"""Seeded, sans-IO network simulator: latency, jitter, loss, bursts, duplication, reordering, bandwidth.

The caller owns the clock: every call takes ``now`` (seconds, any epoch) and nothing here sleeps
or touches a socket, so the same code drives virtual-time protocol tests, the client's lag
injection and a UDP lag proxy.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import secrets
from collections.abc import Hashable, Iterator
from typing import Any, NamedTuple

import attrs
import numpy as np

__all__ = ["PROFILES", "Delivery", "Link", "LinkConfig", "NetworkSimulator"]


def _non_negative(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"LinkConfig.{attribute.name} must be a finite number >= 0, got {value!r}")


def _probability(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"LinkConfig.{attribute.name} must be a probability in [0, 1], got {value!r}")


def _positive_or_none(instance: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is None:
        return
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"LinkConfig.{attribute.name} must be None or a finite number > 0, got {value!r}")


@attrs.frozen
class LinkConfig:
    """Impairments of one direction of a link; all times in seconds, probabilities in [0, 1].

    Loss uses a Gilbert–Elliott model when ``burst_enter`` > 0: each packet first moves the
    channel good→bad with p=``burst_enter`` (bad→good with p=``burst_exit``), then is lost with
    p=``loss`` in the good state or p=``burst_loss`` in the bad state.
    ``queue_limit_bytes`` only applies when ``bandwidth_bps`` is set.
    """

    latency: float = attrs.field(default=0.0, validator=_non_negative)
    jitter: float = attrs.field(default=0.0, validator=_non_negative)
    loss: float = attrs.field(default=0.0, validator=_probability)
    burst_enter: float = attrs.field(default=0.0, validator=_probability)
    burst_exit: float = attrs.field(default=0.0, validator=_probability)
    burst_loss: float = attrs.field(default=0.0, validator=_probability)
    duplicate: float = attrs.field(default=0.0, validator=_probability)
    reorder: float = attrs.field(default=0.0, validator=_probability)
    reorder_delay: float = attrs.field(default=0.0, validator=_non_negative)
    bandwidth_bps: float | None = attrs.field(default=None, validator=_positive_or_none)
    queue_limit_bytes: int | None = attrs.field(default=None, validator=_positive_or_none)

    def __attrs_post_init__(self) -> None:
        if self.burst_enter > 0 and self.burst_exit == 0:
            raise ValueError("LinkConfig.burst_exit must be > 0 when burst_enter > 0 (the bad state would never end)")

    def replace(self, **changes: Any) -> LinkConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        return attrs.evolve(self, **changes)

    @property
    def bursty(self) -> bool:
        return self.burst_enter > 0


PROFILES: dict[str, LinkConfig] = {
    "perfect": LinkConfig(),
    "lan": LinkConfig(latency=0.0005, jitter=0.0002),
    "wifi": LinkConfig(latency=0.008, jitter=0.004, loss=0.01),
    "4g": LinkConfig(latency=0.045, jitter=0.015, loss=0.01, reorder=0.005, reorder_delay=0.02),
    "3g": LinkConfig(latency=0.150, jitter=0.030, loss=0.02, reorder=0.01, reorder_delay=0.04),
    "bad": LinkConfig(latency=0.250, jitter=0.060, loss=0.05, duplicate=0.02, reorder=0.03, reorder_delay=0.08),
    # Mean loss ≈ p_bad * burst_loss with p_bad = enter / (enter + exit) ≈ 3.8 %, in runs of ~4 packets.
    "burst-loss": LinkConfig(
        latency=0.060, jitter=0.010, loss=0.002, burst_enter=0.01, burst_exit=0.25, burst_loss=0.9
    ),
}


class Delivery(NamedTuple):
    """A packet in flight or delivered: heap entry and ``Link.receive`` item in one tuple."""

    time: float
    seq: int  # send order; breaks delivery-time ties stably and keeps ``data`` out of comparisons
    data: bytes
    meta: Any


_new_delivery = tuple.__new__  # skips NamedTuple.__new__'s Python-level argument handling


def _random_stream(rng: np.random.Generator, block: int = 4096) -> Iterator[float]:
    """Uniform [0, 1) floats drawn in blocks: one numpy call per ``block`` packets, not per packet."""
    while True:
        yield from rng.random(block).tolist()


def _resolve_seed(seed: int | None) -> int:
    return secrets.randbits(64) if seed is None else seed


class Link:
    """One direction of a simulated network path, seeded with its own numpy Generator.

    ``send`` decides a packet's fate at send time with the config in force then, so changing
    ``config`` later only affects packets sent afterwards.
    """

    def __init__(self, config: LinkConfig = PROFILES["perfect"], seed: int | None = None) -> None:
        self.seed = _resolve_seed(seed)
        self._random = _random_stream(np.random.default_rng(self.seed)).__next__
        self.config = config
        self._in_flight: list[Delivery] = []
        self._next_seq = 0
        self._burst_bad = False
        self._busy_until = -math.inf  # when the bandwidth bottleneck finishes its current backlog
        self._fifo_until = -math.inf  # delivery time of the newest packet that keeps its place in line
        self.sent = 0
        self.delivered = 0
        self.dropped_loss = 0
        self.dropped_queue = 0
        self.duplicated = 0
        self.reordered = 0
        self.bytes_sent = 0
        self.bytes_delivered = 0

    @property
    def config(self) -> LinkConfig:
        return self._config

    @config.setter
    def config(self, config: LinkConfig) -> None:
        if not isinstance(config, LinkConfig):
            raise TypeError(f"config must be a LinkConfig, got {type(config).__name__}")
        self._config = config

    def send(self, data: bytes, now: float, meta: Any = None) -> None:
        """Offer ``data`` to the link at time ``now``; ``meta`` is returned with it on delivery."""
        config = self._config
        self.sent += 1
        self.bytes_sent += len(data)
        departure = self._depart(len(data), now, config) if config.bandwidth_bps else now
        if departure is None:
            self.dropped_queue += 1
            return
        if self._is_lost(config):
            self.dropped_loss += 1
            return
        self._schedule(data, self._arrival(departure, config), meta)
        if config.duplicate and self._random() < config.duplicate:
            self.duplicated += 1
            self._schedule(data, self._arrival(departure, config), meta)

    def receive(self, now: float) -> list[Delivery]:
        """Pop every packet due at or before ``now``, in delivery-time order (ties: send order)."""
        in_flight = self._in_flight
        due: list[Delivery] = []
        while in_flight and in_flight[0][0] <= now:
            due.append(heapq.heappop(in_flight))
        self.delivered += len(due)
        self.bytes_delivered += sum(len(item[2]) for item in due)
        return due

    def next_delivery_time(self) -> float | None:
        """Delivery time of the earliest packet in flight, or None when nothing is in flight."""
        return self._in_flight[0][0] if self._in_flight else None

    def __len__(self) -> int:
        return len(self._in_flight)

    def stats(self) -> dict[str, int]:
        """Counters; ``reordered`` counts packets given the extra ``reorder_delay``."""
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "dropped_loss": self.dropped_loss,
            "dropped_queue": self.dropped_queue,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "in_flight": len(self._in_flight),
            "bytes_sent": self.bytes_sent,
            "bytes_delivered": self.bytes_delivered,
        }

    def _depart(self, size: int, now: float, config: LinkConfig) -> float | None:
        """Time the packet's last bit leaves the bottleneck, or None if the queue tail-drops it."""
        bytes_per_second = config.bandwidth_bps / 8.0
        start = max(now, self._busy_until)
        limit = config.queue_limit_bytes
        if limit is not None and (start - now) * bytes_per_second + size > limit:
            return None
        self._busy_until = start + size / bytes_per_second
        return self._busy_until

    def _is_lost(self, config: LinkConfig) -> bool:
        if config.bursty:
            flip = config.burst_exit if self._burst_bad else config.burst_enter
            if self._random() < flip:
                self._burst_bad = not self._burst_bad
            if self._burst_bad:
                return self._random() < config.burst_loss
        return bool(config.loss) and self._random() < config.loss

    def _delay(self, config: LinkConfig) -> tuple[float, bool]:
        """(latency + jitter draw [+ reorder delay], whether the packet was picked to be reordered)."""
        delay = config.latency
        if config.jitter:
            delay += config.jitter * (2.0 * self._random() - 1.0)
            if delay < 0.0:
                delay = 0.0
        if config.reorder and self._random() < config.reorder:
            self.reordered += 1
            return delay + config.reorder_delay, True
        return delay, False

    def _arrival(self, departure: float, config: LinkConfig) -> float:
        """When a packet that left the bottleneck at ``departure`` arrives. Jitter keeps packets in order: a
        packet whose jitter draw would put it before the one sent ahead of it waits for that one (a real path
        is a queue; it reorders rarely, and the ``reorder`` knob is for that). Only a packet given the
        ``reorder_delay`` leaves the line: later packets pass it. (``tc netem`` differs: it draws each packet's
        delay independently and releases packets by time, so jitter wider than the gap between two packets
        reorders them.)"""
        delay, reordered = self._delay(config)
        t = departure + delay
        if reordered:
            return t
        if t < self._fifo_until:
            t = self._fifo_until
        self._fifo_until = t
        return t

    def _schedule(self, data: bytes, time: float, meta: Any) -> None:
        heapq.heappush(self._in_flight, _new_delivery(Delivery, (time, self._next_seq, data, meta)))
        self._next_seq += 1


Address = Hashable


def derive_link_seed(seed: int, src: Address, dst: Address) -> int:
    """Seed for the (src, dst) direction: stable across processes, independent of first-use order."""
    digest = hashlib.blake2b(f"{seed}\x00{src!r}\x00{dst!r}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class NetworkSimulator:
    """Many endpoints; each (src, dst) direction is an independent, lazily created ``Link``.

    Directions use ``default`` unless overridden with ``set_link``. Addresses are any hashable
    with a stable ``repr`` (tuples, strings, ints).
    """

    def __init__(self, default: LinkConfig = PROFILES["perfect"], seed: int | None = None) -> None:
        self.seed = _resolve_seed(seed)
        self.default = default
        self._overrides: dict[tuple[Address, Address], LinkConfig] = {}
        self._links: dict[tuple[Address, Address], Link] = {}
        self._next_seq = 0

    def set_link(self, src: Address, dst: Address, config: LinkConfig) -> None:
        """Override the src→dst direction; applies to packets sent from now on."""
        self._overrides[(src, dst)] = config
        link = self._links.get((src, dst))
        if link is not None:
            link.config = config

    def set_default(self, config: LinkConfig) -> None:
        """Change the config of every direction without an override, including existing links."""
        self.default = config
        for key, link in self._links.items():
            if key not in self._overrides:
                link.config = config

    def link(self, src: Address, dst: Address) -> Link:
        """The src→dst ``Link``, created on first use."""
        key = (src, dst)
        link = self._links.get(key)
        if link is None:
            config = self._overrides.get(key, self.default)
            link = self._links[key] = Link(config, seed=derive_link_seed(self.seed, src, dst))
        return link

    def send(self, src: Address, dst: Address, data: bytes, now: float) -> None:
        """Send ``data`` from ``src`` to ``dst`` at time ``now``."""
        # The global send number rides along as meta so deliveries from different links merge stably.
        self.link(src, dst).send(data, now, meta=(self._next_seq, src, dst))
        self._next_seq += 1

    def receive(self, now: float) -> list[tuple[Address, Address, bytes]]:
        """Everything due at or before ``now`` as (src, dst, data), in delivery-time order."""
        return [(src, dst, data) for _, src, dst, data in self.receive_timed(now)]

    def receive_timed(self, now: float) -> list[tuple[float, Address, Address, bytes]]:
        """Like ``receive`` but each item is (delivery_time, src, dst, data)."""
        due: list[Delivery] = []
        for link in self._links.values():
            first = link.next_delivery_time()
            if first is not None and first <= now:
                due.extend(link.receive(now))
        due.sort(key=lambda item: (item.time, item.meta[0], item.seq))
        return [(item.time, item.meta[1], item.meta[2], item.data) for item in due]

    def next_delivery_time(self) -> float | None:
        """Earliest delivery time over all directions, or None when nothing is in flight."""
        times = [t for t in (link.next_delivery_time() for link in self._links.values()) if t is not None]
        return min(times, default=None)

    def stats(self) -> dict[tuple[Address, Address], dict[str, int]]:
        """Per-direction counters keyed by (src, dst)."""
        return {key: link.stats() for key, link in self._links.items()}
