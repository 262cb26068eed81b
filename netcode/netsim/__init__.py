"""The seeded network simulator and what is built on it, all sans-IO (the caller passes ``now``).

* ``link``: one direction's impairment model (latency, jitter, uniform and Gilbert-Elliott loss,
  duplication, reordering, bandwidth cap), the named profiles, and ``NetworkSimulator`` for two sides;
* ``virtual``: endpoints wired through the simulator in virtual time (what the tests drive);
* ``lagged``: a client endpoint wrapped in the simulator (the demo client's ``--lag/--loss``);
* ``proxy``: the lag proxy's core between many clients and one server, and its timelines.

One model serves the tests, the client's lag injection and the UDP lag proxy (``netcode lagsim``), so a
profile means the same thing everywhere (docs/LAGSIM.md).
"""
from .link import PROFILES, Link, LinkConfig, NetworkSimulator, derive_link_seed

__all__ = ["PROFILES", "Link", "LinkConfig", "NetworkSimulator", "derive_link_seed"]
