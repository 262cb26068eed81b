"""`netcode soak` (real processes and sockets on loopback, bounded in time) and the bench plots."""
from __future__ import annotations

import json
import math

import pytest

from netcode.aio.driver import run
from netcode.cli.soak import memory_growth, tick_drift, warmup_seconds, window_seconds


def _soak(**kw):
    from netcode.cli.soak import soak
    return run(soak(**kw))


def test_short_soak_with_churn_passes(tmp_path, capsys):
    out = tmp_path / "soak.json"
    # 12 s cannot tell a server's warm-up (rings and allocator arenas filling) from a leak at the default
    # 1.2 s warm-up; 4 s keeps the memory verdict meaningful without making the test flaky.
    report = _soak(duration=12.0, bots=8, profile="wifi", npcs=200, churn=20.0, warmup=4.0, json_path=str(out))
    printed = capsys.readouterr().out
    assert report["ok"], report["failures"]
    assert "SOAK PASSED" in printed
    d = report["disconnects"]
    assert d["unexpected_disconnects"] == 0
    assert d["expected_disconnects"] >= 1 and d["reconnects"] == d["expected_disconnects"]
    assert len(report["tick_windows"]) >= 4 and all(w["ticks"] > 0 for w in report["tick_windows"])
    assert report["memory"] is not None and report["memory"]["rss_start_mb"] > 10
    assert report["tick_drift"] is None  # 2 s windows are too short for a p99 worth judging
    assert report["server_returncode"] == 0 and report["server_final"]["joins"] >= 8
    assert json.loads(out.read_text())["ok"] is True


def test_soak_fails_loudly_when_the_server_dies(capsys):
    report = _soak(duration=10.0, bots=4, profile="wifi", npcs=200, churn=0.0, kill_server_at=2.5)
    printed = capsys.readouterr().out
    assert not report["ok"]
    assert report["disconnects"]["unexpected_disconnects"] == 4
    assert report["server_exit"] is not None
    assert any("unexpected disconnect" in f for f in report["failures"])
    assert any("exited early" in f for f in report["failures"])
    last = printed.strip().splitlines()[-1]
    assert last.startswith("SOAK FAILED:") and "4 unexpected disconnect" in last



def test_verdict_helpers():
    # 10 % of the run, but never under 20 s (start-up growth is not a leak) nor over 60 s
    assert warmup_seconds(15) == 20.0 and warmup_seconds(400) == 40.0 and warmup_seconds(3600) == 60.0
    assert window_seconds(3600) == 30.0 and window_seconds(60) == 10.0
    flat = [{"t0": i * 30.0, "t1": (i + 1) * 30.0, "ticks": 1800, "p99_ms": 5.0 + 0.1 * (i % 2)} for i in range(9)]
    d = tick_drift(flat, 0.0)
    assert abs(d["drift_pct"]) < 5
    rising = [dict(w, p99_ms=5.0 + i) for i, w in enumerate(flat)]
    assert tick_drift(rising, 0.0)["drift_pct"] > 50
    assert tick_drift(flat[:2], 0.0) is None
    assert tick_drift([dict(w, ticks=120) for w in rising], 0.0) is None
    leak = [(float(t), 100_000 + 1000 * t) for t in range(60)]
    m = memory_growth(leak, 6.0, span=10.0)
    assert m["growth_pct"] > 30 and m["slope_mb_per_min"] == pytest.approx(1000 * 60 / 1024, rel=1e-6)
    steady = [(float(t), 100_000 + (5000 if t > 3 else 0)) for t in range(60)]
    assert memory_growth(steady, 6.0, span=10.0)["growth_pct"] == 0.0
    blip = [(float(t), 100_000 + (20_000 if t >= 57 else 0)) for t in range(60)]  # one late step, 3 samples
    assert memory_growth(blip, 6.0, span=10.0)["growth_pct"] == 0.0
    assert memory_growth(blip, 6.0, span=2.0)["growth_pct"] == 20.0
    assert memory_growth(leak, 45.0, span=10.0) is None  # 15 s after the warm-up: two 10 s windows don't fit


# --- plots ----------------------------------------------------------------------------------------

SYNTH = [
    {"suite": "statesync",
     "metrics": {"tick_p99_ms": 9.1, "snapshot_bytes_mean": 310.0, "naive_bytes_mean": 2900.0,
                 "visible_entities_mean": 85.0, "delta_ratio_vs_naive": 9.35},
     "sweep": [{"clients": c, "tick_p50_ms": 1 + c * 0.03, "tick_p99_ms": 2 + c * 0.05, "tick_max_ms": 4 + c * 0.06,
                "down_kbit_per_client": 120 - c * 0.1} for c in (16, 64, 128, 256)],
     "scenario": {"clients": 128, "npcs": 10000, "tick_hz": 60}},
    {"suite": "rewind", "metrics": {},
     "runs": [{"rtt_ms": rtt, "rewind": rw, "loss": loss,
               "agreement": (0.97 - loss) if rw else (math.nan if rtt == 250 else 0.9 - rtt / 300)}
              for loss in (0.0, 0.02) for rtt in (50, 100, 150, 250) for rw in (True, False)]},
    {"suite": "transport",
     "metrics": {"reliable_msgs_per_s_w1": 9000.0, "bare_msgs_per_s_w1": 14000.0, "ratio_w1": 0.64,
                 "reliable_msgs_per_s_w32": 60000.0, "bare_msgs_per_s_w32": 95000.0, "ratio_w32": 0.63},
     "runs": {"netcode_w1": [{"msgs_per_s": 8800.0}, {"msgs_per_s": 9200.0}],
              "bare_w1": [{"msgs_per_s": 13500.0}, {"msgs_per_s": 14300.0}],
              "netcode_w32": [{"msgs_per_s": 58000.0}], "bare_w32": [{"msgs_per_s": 95000.0}]}},
    {"suite": "replay",
     "metrics": {"bytes_per_player_minute": 21000.0, "bytes_per_player_minute_views": 26000.0,
                 "verify_speed_x_realtime": 40.0, "verify_speed_x_realtime_views": 38.0,
                 "verify_speed_parallel_x_realtime": 95.0}},
]


def test_write_plots_from_synthetic_results(tmp_path):
    pytest.importorskip("matplotlib")
    from netcode.bench.plots import write_plots

    paths = write_plots({"machine": {}, "results": SYNTH}, str(tmp_path / "plots"))
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert names == ["replay_size_and_verify.png", "rewind_agreement_vs_rtt.png", "statesync_bandwidth.png",
                     "statesync_tick_vs_clients.png", "transport_msgs_per_s.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # a suite without the data a chart needs is skipped, not an error
    assert write_plots([{"suite": "statesync", "metrics": {}}, {"suite": "rewind", "runs": []}],
                       str(tmp_path / "empty")) == []


def test_write_plots_without_matplotlib(tmp_path, monkeypatch):
    import builtins

    from netcode.bench import plots

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(plots.MissingMatplotlib, match=r"pip install 'netcode\[plot\]'"):
        plots.write_plots(SYNTH, str(tmp_path / "p"))
    assert not (tmp_path / "p").exists()


def test_trace_memory_reports_the_server_allocation_sites_that_grew(capsys):
    report = _soak(duration=7.0, bots=4, profile=None, npcs=100, churn=0.0, warmup=3.0, trace_memory=True)
    sites = report["memory_sites"]
    assert sites and all(isinstance(w, str) and ":" in w and isinstance(kib, float) for w, kib, _ in sites)
    assert [kib for _, kib, _ in sites] == sorted((kib for _, kib, _ in sites), reverse=True)
    assert "allocated after the warm-up" in capsys.readouterr().out
