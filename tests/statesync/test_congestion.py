"""The adaptive snapshot rate (netcode.statesync.congestion) on its own, in virtual time."""
import random

from netcode.statesync.congestion import SNAPSHOT_OVERHEAD, SnapshotRate

TICK = 1 / 60


def _play(rate: SnapshotRate, seconds: float, ack_time, start=0.0, tick0=0, size=300, rationed=False):
    """Snapshots every tick; each acked after ack_time(t) seconds (None: never). Returns (end time, next tick)."""
    pending = []  # (ack due, tick)
    t, tick = start, tick0
    while t < start + seconds:
        rate.update(t)
        rate.sent(tick, size, t, rationed)
        delay = ack_time(t)
        if delay is not None:
            pending.append((t + delay, tick))
        pending.sort()
        while pending and pending[0][0] <= t:
            rate.acked(pending.pop(0)[1], t)
        t += TICK
        tick += 1
    return t, tick


def test_jitter_alone_is_not_a_queue():
    rng = random.Random(1)
    rate = SnapshotRate(256_000, 60)
    _play(rate, 20.0, lambda t: 0.1 + rng.uniform(-0.02, 0.02))
    assert rate.counters.backoffs == 0 and rate.budget_bps == rate.max_bps


def test_acks_that_stop_coming_are_a_queue_too():
    """A queue that grew past every ack leaves no ack to time: the oldest unacknowledged snapshot's wait is
    judged instead (the server was blind to a 3g link's queue without it)."""
    rate = SnapshotRate(256_000, 60)
    t, tick = _play(rate, 5.0, lambda t: 0.1)
    assert rate.counters.backoffs == 0
    _play(rate, 2.0, lambda t: None, t, tick)
    assert rate.counters.backoffs >= 1 and rate.budget_bps < rate.max_bps


def test_a_draining_queue_is_not_cut_again():
    rate = SnapshotRate(256_000, 60)
    t, tick = _play(rate, 4.0, lambda t: 0.1)
    t0 = t
    # a queue builds for 2 s to 1 s of delay, then drains at the same pace
    t, tick = _play(rate, 4.0, lambda t: 0.1 + max(0.0, 1.0 - abs(t - t0 - 2.0) / 2.0), t, tick)
    cuts_while_rising = rate.counters.backoffs
    assert cuts_while_rising >= 1
    _play(rate, 1.5, lambda t: 0.1 + max(0.0, 1.0 - (t - t0 - 2.0) / 2.0) * 0.5, t, tick)  # falling fast
    assert rate.counters.backoffs == cuts_while_rising


def test_the_budget_counts_what_the_wire_carries_and_what_the_encoder_overshoots():
    rate = SnapshotRate(256_000, 60)
    assert rate.max_bps == 256_000 + 8 * SNAPSHOT_OVERHEAD * 60  # the configured payload, plus headers
    full = rate.snapshot_bytes
    assert abs(full - 256_000 / 8 / 60) < 1e-6
    _play(rate, 3.0, lambda t: 0.05, size=int(1.5 * full), rationed=True)  # rationed, yet 1.5x its budget
    assert 1.4 < rate.overshoot <= 1.5
    assert abs(rate.snapshot_bytes - full / rate.overshoot) < 1e-6
