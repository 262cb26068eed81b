import numpy as np
import pytest

from netcode.tick import FixedTicker


def run_with_random_wakeups(ticker, seconds, seed, min_step=0.0001, max_step=0.030):
    rng = np.random.default_rng(seed)
    now = ticker.start
    end = ticker.start + seconds
    while now < end:
        now += rng.uniform(min_step, max_step)
        ticker.due(now)
    return now


@pytest.mark.parametrize("rate", [60, 128])
def test_no_drift_over_ten_virtual_minutes_with_irregular_wakeups(rate):
    ticker = FixedTicker(rate=rate, start=1234.5)
    now = run_with_random_wakeups(ticker, 600.0, seed=rate)
    expected = (now - ticker.start) * rate
    assert abs(ticker.ticks - expected) <= 1
    assert ticker.skipped == 0 and ticker.overruns == 0
    assert ticker.next_deadline() > now >= ticker.next_deadline() - 1 / rate


def test_tick_times_are_computed_from_the_index():
    ticker = FixedTicker(rate=60, start=10.0)
    assert ticker.scheduled_time(36_000) == 10.0 + 600.0
    assert ticker.interval == pytest.approx(1 / 60)


def test_due_counts_ticks_at_exact_boundaries():
    ticker = FixedTicker(rate=10, start=0.0)
    assert ticker.due(-0.5) == 0
    assert ticker.due(0.0) == 1  # tick 0 is due at start
    assert ticker.due(0.0) == 0  # and only once
    assert ticker.due(0.0999) == 0
    assert ticker.due(0.1) == 1
    assert ticker.due(0.35) == 2
    assert ticker.tick == 4 and ticker.ticks == 4


def test_next_deadline_tracks_the_schedule():
    ticker = FixedTicker(rate=20, start=5.0)
    assert ticker.next_deadline() == 5.0
    ticker.due(5.0)
    assert ticker.next_deadline() == pytest.approx(5.05)
    ticker.due(5.12)
    assert ticker.tick == 3
    assert ticker.next_deadline() == pytest.approx(5.15)
    # Waking exactly at the deadline always makes exactly one tick due.
    for _ in range(1000):
        deadline = ticker.next_deadline()
        assert ticker.due(deadline) == 1
        assert ticker.next_deadline() > deadline


def test_overrun_runs_max_catchup_and_skips_the_rest():
    ticker = FixedTicker(rate=60, start=0.0, max_catchup=5)
    assert ticker.due(0.0) == 1
    # A 1 s stall: ticks 1..60 are due at t=1.0.
    assert ticker.due(1.0) == 5
    assert ticker.skipped == 55
    assert ticker.overruns == 1
    assert ticker.ticks == 6
    assert ticker.tick == 61
    # The schedule moved on: the skipped ticks never run, the next tick is simply the next slot.
    assert ticker.next_deadline() == pytest.approx(61 / 60)
    assert ticker.due(1.0) == 0
    assert ticker.due(61 / 60) == 1
    assert ticker.overruns == 1 and ticker.skipped == 55


def test_exactly_max_catchup_due_is_not_an_overrun():
    ticker = FixedTicker(rate=10, start=0.0, max_catchup=3)
    assert ticker.due(0.2) == 3
    assert ticker.overruns == 0 and ticker.skipped == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"rate": 0}, {"rate": 0.5}, {"rate": 1001}, {"rate": 60, "max_catchup": 0}, {"rate": 60, "window": 0}],
)
def test_bad_parameters_raise(kwargs):
    with pytest.raises(ValueError):
        FixedTicker(**kwargs)


def test_stats_percentiles_over_recorded_durations():
    ticker = FixedTicker(rate=60)
    empty = ticker.stats()
    assert empty["samples"] == 0 and empty["p99_ms"] == 0.0
    for ms in range(1, 101):  # 1..100 ms
        ticker.record(ms / 1000)
    stats = ticker.stats()
    assert stats["samples"] == 100
    assert stats["p50_ms"] == pytest.approx(50.5)
    assert stats["p99_ms"] == pytest.approx(99.01)
    assert stats["max_ms"] == pytest.approx(100.0)
    assert stats["mean_ms"] == pytest.approx(50.5)


def test_stats_window_keeps_only_the_latest_durations():
    ticker = FixedTicker(rate=60, window=10)
    for _ in range(100):
        ticker.record(1.0)
    for _ in range(10):
        ticker.record(0.002)
    stats = ticker.stats()
    assert stats["samples"] == 10
    assert stats["max_ms"] == pytest.approx(2.0) and stats["p50_ms"] == pytest.approx(2.0)


def test_stats_include_counters():
    ticker = FixedTicker(rate=10, max_catchup=2)
    ticker.due(1.0)
    stats = ticker.stats()
    assert (stats["ticks"], stats["overruns"], stats["skipped"]) == (2, 1, 9)


def test_record_rejects_negative_duration():
    with pytest.raises(ValueError):
        FixedTicker(rate=60).record(-0.001)
