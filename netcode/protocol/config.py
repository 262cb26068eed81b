"""Transport tunables, shared by server and client."""
from __future__ import annotations

import attrs


def _positive(inst, attr, value):
    if value <= 0:
        raise ValueError(f"{attr.name} must be > 0, got {value}")


@attrs.frozen
class TransportConfig:
    """Timeouts, windows and limits of one connection (netcode.io / yojimbo defaults where they exist)."""

    timeout: float = attrs.field(default=5.0, validator=_positive)  # netcode.io: 5 s
    keepalive_interval: float = attrs.field(default=0.1, validator=_positive)  # netcode.io: 10 Hz
    # An ack-only packet goes out this long after an unacknowledged receive when there is nothing to carry it.
    ack_delay: float = 0.005
    min_resend: float = attrs.field(default=0.02, validator=_positive)
    max_resend: float = attrs.field(default=0.2, validator=_positive)  # yojimbo resends every 0.1 s
    reliable_window: int = attrs.field(default=1024, validator=_positive)  # message ids in flight (< 32768)
    send_queue_limit: int = attrs.field(default=8192, validator=_positive)  # reliable messages waiting for the window
    send_queue_bytes: int = attrs.field(default=8 << 20, validator=_positive)
    max_message_size: int = attrs.field(default=256 * 1024, validator=_positive)
    reassembly_bytes: int = attrs.field(default=4 << 20, validator=_positive)  # per connection, incomplete messages
    reassembly_timeout: float = attrs.field(default=10.0, validator=_positive)
    unreliable_queue_limit: int = attrs.field(default=1024, validator=_positive)
    max_datagrams_per_flush: int = attrs.field(default=256, validator=_positive)
    disconnect_redundancy: int = attrs.field(default=3, validator=_positive)
    connect_retry: float = attrs.field(default=0.1, validator=_positive)
    connect_timeout: float = attrs.field(default=5.0, validator=_positive)
    cookie_lifetime: float = attrs.field(default=10.0, validator=_positive)
    # connections one host (IP address) may hold at once, so one machine can't take every slot (0: no cap).
    # Loopback is exempt unless cap_loopback: a local bot swarm or benchmark is many clients on one host.
    max_per_host: int = attrs.field(default=16, validator=attrs.validators.ge(0))
    cap_loopback: bool = False

    def __attrs_post_init__(self):
        if not 1 <= self.reliable_window < 32768:
            raise ValueError("reliable_window must be in [1, 32768)")
        if self.max_resend < self.min_resend:
            raise ValueError("max_resend must be >= min_resend")
