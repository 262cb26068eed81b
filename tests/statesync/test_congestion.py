"""The adaptive snapshot rate (netcode.statesync.congestion) on its own, in virtual time."""
import random

from netcode.statesync.congestion import SNAPSHOT_OVERHEAD, START_BPS, SnapshotRate

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


def test_slow_start_grows_once_per_ack_time_and_ends_when_the_queue_rises():
    """A new client starts at START_BPS and grows x1.5, at most once per ack time, while the acks show no queue:
    it reaches the configured budget within a second on a clear 100 ms link; behind a 150 kbit/s bottleneck it ends
    at the first rise of the ack time, back at its last step, instead of filling the queue at a growing rate."""
    clear = SnapshotRate(256_000, 60)
    assert clear.budget_bps == START_BPS and clear.slow_start and clear.every == 1  # every snapshot from the first
    _play(clear, 1.5, lambda t: 0.1)
    assert clear.budget_bps == clear.max_bps and not clear.slow_start and clear.every == 1
    assert clear.counters.backoffs == 0

    # Behind a 150 kbit/s bottleneck with a 3g-like ack time of 330 ms: the queue in front of it grows by what is
    # sent above the link's rate. Its first rise is well inside what jitter may add to so long an ack time (25 %),
    # and still the end of the slow start, back at the last step that showed no queue.
    filling = SnapshotRate(256_000, 60)
    queue = {"s": 0.0, "peak": 0.0, "budget": 0.0}

    def ack_time(t):
        queue["s"] = max(0.0, queue["s"] + (filling.budget_bps - 150_000) / 150_000 * TICK)
        queue["peak"] = max(queue["peak"], queue["s"])
        queue["budget"] = max(queue["budget"], filling.budget_bps)
        return 0.33 + queue["s"]

    _play(filling, 8.0, ack_time)
    assert not filling.slow_start
    assert queue["budget"] < 0.8 * filling.max_bps  # it never went on to the full budget
    # (without the slow start the queue peaked at 0.88 s here; ending it only at a congested rise, at 0.68 s)
    assert queue["peak"] < 0.35, queue["peak"]


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
    t, tick = _play(rate, 3.0, lambda t: 0.05)  # past the slow start, on a clear link
    assert rate.budget_bps == rate.max_bps and not rate.slow_start
    full = rate.snapshot_bytes
    assert abs(full - 256_000 / 8 / 60) < 1e-6
    _play(rate, 3.0, lambda t: 0.05, t, tick, size=int(1.5 * full), rationed=True)  # rationed, yet 1.5x its budget
    assert 1.4 < rate.overshoot <= 1.5
    assert abs(rate.snapshot_bytes - full / rate.overshoot) < 1e-6
