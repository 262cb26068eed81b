"""Per-connection measurements."""
from __future__ import annotations

import attrs

_LOSS_GAIN = 0.02  # the loss estimate's EWMA gain: a ~50-packet horizon


@attrs.define
class ConnectionStats:
    """Smoothed RTT and jitter (RFC 6298 estimator), loss estimate, and traffic counters."""

    rtt: float = 0.0  # seconds, smoothed
    jitter: float = 0.0  # seconds, mean deviation of RTT
    loss: float = 0.0  # fraction of recent packets never acked
    rtt_samples: int = 0
    packets_out: int = 0
    packets_in: int = 0
    packets_expected: int = 0  # the peer's packets by their sequence numbers, from the first heard to the newest
    bytes_out: int = 0
    bytes_in: int = 0
    packets_acked: int = 0
    packets_lost: int = 0
    messages_out: int = 0
    messages_in: int = 0
    resent: int = 0
    duplicate_packets: int = 0
    stale_packets: int = 0
    duplicate_messages: int = 0
    dropped_unreliable: int = 0
    dropped_reassembly: int = 0

    def add_rtt_sample(self, sample: float) -> None:
        if self.rtt_samples == 0:
            self.rtt = sample
            self.jitter = sample / 2
        else:
            self.jitter += (abs(self.rtt - sample) - self.jitter) * 0.25
            self.rtt += (sample - self.rtt) * 0.125
        self.rtt_samples += 1

    def add_loss_sample(self, lost: bool) -> None:
        if lost:
            self.packets_lost += 1
        else:
            self.packets_acked += 1
        # ~50-packet horizon (_LOSS_GAIN): responsive enough for a net graph, stable enough to read.
        self.loss += ((1.0 if lost else 0.0) - self.loss) * _LOSS_GAIN

    def add_delivered(self, n: int) -> None:
        """``n`` add_loss_sample(False) in a row, at once."""
        self.packets_acked += n
        self.loss *= (1.0 - _LOSS_GAIN) ** n

    @property
    def loss_in(self) -> float:
        """Fraction of the peer's packets that never arrived, over the connection's life: the sequence numbers
        say how many it sent (a late packet counts as arrived, a duplicate once). ``loss`` is the other way:
        ours the peer never acked."""
        return max(0.0, 1.0 - self.packets_in / self.packets_expected) if self.packets_expected else 0.0

    def as_dict(self) -> dict:
        return {**attrs.asdict(self), "loss_in": self.loss_in}
