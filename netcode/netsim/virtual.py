"""Sans-IO endpoints wired through the seeded NetworkSimulator in virtual time.

Tests and benchmarks use this instead of sockets and sleeps: every step moves the clock by a
fixed amount, delivers what the simulator says is due, and collects what each endpoint sends.
"""
from __future__ import annotations

from typing import Callable

from ..protocol.endpoint import Endpoint
from .link import LinkConfig, NetworkSimulator

class VirtualNetwork:
    """Runs endpoints at addresses over a NetworkSimulator with a fixed-step virtual clock."""

    def __init__(self, default: LinkConfig | None = None, seed: int = 0, now: float = 0.0, step: float = 0.001):
        self.sim = NetworkSimulator(default or LinkConfig(), seed=seed)
        self.now = now
        self.step_size = step
        self.endpoints: dict[object, Endpoint] = {}
        self.on_step: list[Callable[[float], None]] = []  # application logic run every step

    def add(self, addr, endpoint: Endpoint) -> Endpoint:
        self.endpoints[addr] = endpoint
        return endpoint

    def remove(self, addr) -> None:
        self.endpoints.pop(addr, None)

    def step(self) -> None:
        self.now += self.step_size
        now = self.now
        for src, dst, data in self.sim.receive(now):
            ep = self.endpoints.get(dst)
            if ep is not None:
                ep.receive_datagram(data, src, now)
        for fn in self.on_step:
            fn(now)
        for addr, ep in list(self.endpoints.items()):
            ep.update(now)
            for data, dst in ep.datagrams_to_send(now):
                self.sim.send(addr, dst, data, now)

    def advance(self, duration: float) -> None:
        end = self.now + duration - self.step_size / 2
        while self.now < end:
            self.step()

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Step until predicate() is true or timeout virtual seconds pass; return predicate()."""
        end = self.now + timeout
        while not predicate():
            if self.now >= end:
                return False
            self.step()
        return True
