"""PNG charts of benchmark results (``netcode bench --json``): ``write_plots(results, out_dir)``.

matplotlib is an optional extra (``pip install 'netcode[plot]'``); it is imported only here, only
when plotting, and through ``matplotlib.figure.Figure`` (no pyplot, no global backend switch).

Charts, each written only when its suite is among the results:

- ``statesync_tick_vs_clients.png``: server tick p50/p99/max vs clients (the statesync ``sweep``),
  with the tick budget (1 / tick rate).
- ``statesync_bandwidth.png``: snapshot kbit/s per client vs visible entities when the sweep rows
  carry a visible-entity count (vs clients otherwise), and our snapshot bytes vs a naive msgpack
  snapshot of the same view at the mean visible-entity count (statesync ``metrics``).
- ``rewind_agreement_vs_rtt.png``: hit agreement vs RTT, rewind on vs off, one line per loss rate
  (the rewind ``runs``).
- ``transport_msgs_per_s.png``: messages/s, netcode reliable channel vs bare UDP, 1 and 32 in flight
  (transport ``metrics``; whiskers span the individual ``runs``).
- ``replay_size_and_verify.png``: replay bytes per player-minute and verification speed (× real time).
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

__all__ = ["MissingMatplotlib", "load_results", "require_matplotlib", "write_plots"]

INSTALL_HINT = "plots need matplotlib, an optional extra: pip install 'netcode[plot]'"

NETCODE = "#1f77b4"
BARE = "#7f7f7f"
ON = "#2ca02c"
OFF = "#d62728"


class MissingMatplotlib(ImportError):
    """matplotlib is not installed; ``str()`` is the one line telling the user what to install."""


def require_matplotlib() -> None:
    """Raise ``MissingMatplotlib`` now (e.g. before a long benchmark whose results are to be plotted)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingMatplotlib(INSTALL_HINT) from None


def _figure(width: float = 7.0, height: float = 4.2):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingMatplotlib(INSTALL_HINT) from None
    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def load_results(doc: Any) -> list[dict]:
    """Suite dicts from what ``netcode bench --json`` wrote (``{"results": [...]}``), a list, or one suite."""
    if isinstance(doc, dict):
        if isinstance(doc.get("results"), list):
            return [r for r in doc["results"] if isinstance(r, dict)]
        return [doc] if "suite" in doc else []
    return [r for r in doc if isinstance(r, dict)]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _save(fig, out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, name)
    fig.savefig(path)
    return path


# ------------------------------------------------------------------------------------- statesync


def plot_tick_vs_clients(result: dict, out_dir: str) -> str | None:
    rows = sorted((r for r in result.get("sweep") or [] if _finite(r.get("clients"))), key=lambda r: r["clients"])
    if not rows:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    xs = [r["clients"] for r in rows]
    for key, label, style in (("tick_p50_ms", "p50", "o-"), ("tick_p99_ms", "p99", "s-"), ("tick_max_ms", "max", "^:")):
        pts = [(x, r[key]) for x, r in zip(xs, rows) if _finite(r.get(key))]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=f"tick {label}")
    sc = result.get("scenario") or {}
    tick_hz = sc.get("tick_hz") or 60
    ax.axhline(1000.0 / tick_hz, color="k", lw=1, ls="--", label=f"budget ({tick_hz} Hz)")
    ax.set_xlabel("clients")
    ax.set_ylabel("server tick time (ms)")
    npcs = f", {sc['npcs']:,} NPCs" if sc.get("npcs") else ""
    ax.set_title(f"State sync: tick time vs clients{npcs}")
    ax.set_xticks(xs)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, out_dir, "statesync_tick_vs_clients.png")


def _visible(row: dict) -> float | None:
    for key in ("visible_entities_mean", "visible_entities", "entities_visible_mean"):
        if _finite(row.get(key)):
            return float(row[key])
    return None


def plot_bandwidth(result: dict, out_dir: str) -> str | None:
    rows = [r for r in result.get("sweep") or [] if _finite(r.get("down_kbit_per_client"))]
    m = result.get("metrics") or {}
    have_bytes = all(_finite(m.get(k)) for k in ("snapshot_bytes_mean", "naive_bytes_mean"))
    if not rows and not have_bytes:
        return None
    fig = _figure(9.0 if rows and have_bytes else 6.5, 4.2)
    axes = fig.subplots(1, 2, width_ratios=[3, 2]) if rows and have_bytes else [fig.add_subplot()]
    i = 0
    if rows:
        ax = axes[i]
        i += 1
        by_visible = all(_visible(r) is not None for r in rows)
        key = _visible if by_visible else (lambda r: r.get("clients"))
        rows = sorted((r for r in rows if _finite(key(r))), key=key)
        ax.plot([key(r) for r in rows], [r["down_kbit_per_client"] for r in rows], "o-", color=NETCODE)
        if not by_visible:
            for r in rows:
                ax.annotate(f"{r['down_kbit_per_client']:.0f}", (r["clients"], r["down_kbit_per_client"]),
                            textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        ax.set_xlabel("visible entities per client" if by_visible else "clients")
        ax.set_ylabel("snapshot kbit/s per client")
        ax.set_title("Snapshot bandwidth per client" + ("" if by_visible else " vs clients"))
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    if have_bytes:
        ax = axes[i]
        ours, naive = m["snapshot_bytes_mean"], m["naive_bytes_mean"]
        bars = ax.bar(["delta snapshot", "naive msgpack"], [ours, naive], color=[NETCODE, BARE])
        ax.bar_label(bars, fmt="%.0f B")
        vis = m.get("visible_entities_mean")
        ax.set_title(f"Bytes per snapshot ({vis:.0f} visible entities)" if _finite(vis) else "Bytes per snapshot")
        ax.set_ylabel("bytes")
        if _finite(m.get("delta_ratio_vs_naive")):
            ax.text(0.27, 0.5, f"{m['delta_ratio_vs_naive']:.1f}×\nsmaller", transform=ax.transAxes, ha="center",
                    fontsize=11)
        ax.margins(y=0.12)
        ax.grid(alpha=0.3, axis="y")
    return _save(fig, out_dir, "statesync_bandwidth.png")


# ---------------------------------------------------------------------------------------- rewind


def plot_rewind(result: dict, out_dir: str) -> str | None:
    runs = [r for r in result.get("runs") or [] if isinstance(r, dict) and _finite(r.get("rtt_ms"))]
    if not runs:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    losses = sorted({float(r.get("loss") or 0.0) for r in runs})
    plotted = False
    for loss in losses:
        for rewind in (True, False):
            pts = sorted((r["rtt_ms"], r["agreement"] * 100) for r in runs
                         if bool(r.get("rewind")) == rewind and float(r.get("loss") or 0.0) == loss
                         and _finite(r.get("agreement")))
            if not pts:
                continue
            plotted = True
            label = f"rewind {'on' if rewind else 'off'}" + (f", {loss * 100:g} % loss" if len(losses) > 1 else "")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if rewind else "s--",
                    color=ON if rewind else OFF, alpha=1.0 if loss == losses[0] else 0.55, label=label)
    if not plotted:
        return None
    ax.set_xlabel("round-trip time (ms)")
    ax.set_ylabel("hit agreement (%): shooter's view confirmed by server")
    ax.set_title("Lag compensation: hit agreement vs RTT")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, out_dir, "rewind_agreement_vs_rtt.png")


# ------------------------------------------------------------------------------------- transport


def plot_transport(result: dict, out_dir: str) -> str | None:
    m = result.get("metrics") or {}
    runs = result.get("runs") or {}
    windows = [w for w in (1, 32) if _finite(m.get(f"reliable_msgs_per_s_w{w}")) and _finite(m.get(f"bare_msgs_per_s_w{w}"))]
    if not windows:
        return None
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    width = 0.38
    for j, (mode, key, color, label) in enumerate((("netcode", "reliable_msgs_per_s_w{}", NETCODE, "netcode reliable"),
                                                    ("bare", "bare_msgs_per_s_w{}", BARE, "bare UDP echo"))):
        xs = [i + (j - 0.5) * width for i in range(len(windows))]
        ys = [m[key.format(w)] for w in windows]
        lo, hi = [], []
        for w, y in zip(windows, ys):
            vals = [r["msgs_per_s"] for r in runs.get(f"{mode}_w{w}", []) if _finite(r.get("msgs_per_s"))]
            lo.append(max(0.0, y - min(vals)) if vals else 0.0)
            hi.append(max(0.0, max(vals) - y) if vals else 0.0)
        bars = ax.bar(xs, ys, width, color=color, label=label, yerr=[lo, hi] if any(lo) or any(hi) else None,
                      capsize=4)
        ax.bar_label(bars, labels=[f"{y / 1000:.0f}k" for y in ys], padding=2, fontsize=8)
    for i, w in enumerate(windows):
        ratio = m.get(f"ratio_w{w}")
        if _finite(ratio):
            ax.text(i, 0.02, f"{ratio * 100:.0f} % of bare", transform=ax.get_xaxis_transform(), ha="center",
                    fontsize=8, color="white")
    ax.set_xticks(range(len(windows)), [f"{w} in flight" for w in windows])
    ax.set_ylabel("messages / s (50-byte echo)")
    ax.set_title("Transport: reliable channel vs bare UDP")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return _save(fig, out_dir, "transport_msgs_per_s.png")


# ---------------------------------------------------------------------------------------- replay


def plot_replay(result: dict, out_dir: str) -> str | None:
    m = result.get("metrics") or {}
    size = [(label, m[k]) for label, k in (("plain", "bytes_per_player_minute"),
                                          ("with shot views", "bytes_per_player_minute_views"),
                                          ("lockstep", "lockstep_bytes_per_player_minute")) if _finite(m.get(k))]
    speed = [(label, m[k]) for label, k in (("1 process", "verify_speed_x_realtime"),
                                           ("with shot views", "verify_speed_x_realtime_views"),
                                           ("parallel", "verify_speed_parallel_x_realtime"),
                                           ("lockstep", "lockstep_verify_speed_x_realtime")) if _finite(m.get(k))]
    if not size and not speed:
        return None
    panels = [p for p in (size, speed) if p]
    fig = _figure(4.0 * len(panels) + 1.0, 4.2)
    axes = fig.subplots(1, len(panels)) if len(panels) > 1 else [fig.add_subplot()]
    i = 0
    if size:
        ax = axes[i]
        i += 1
        bars = ax.bar([s[0] for s in size], [s[1] / 1024 for s in size],
                      color=[NETCODE, "#9467bd", ON][:len(size)])
        ax.bar_label(bars, fmt="%.1f KiB")
        ax.set_ylabel("KiB per player-minute")
        ax.margins(y=0.1)
        ax.set_title("Replay size")
        ax.grid(alpha=0.3, axis="y")
    if speed:
        ax = axes[i]
        bars = ax.bar([s[0] for s in speed], [s[1] for s in speed],
                      color=[NETCODE, "#9467bd", ON, "#8c564b"][:len(speed)])
        ax.bar_label(bars, fmt="%.0f×")
        ax.set_ylabel("verification speed (× real time)")
        ax.margins(y=0.1)
        ax.set_title("Replay verification (re-simulation)")
        ax.grid(alpha=0.3, axis="y")
    return _save(fig, out_dir, "replay_size_and_verify.png")


PLOTTERS: dict[str, list[Callable[[dict, str], str | None]]] = {
    "statesync": [plot_tick_vs_clients, plot_bandwidth],
    "rewind": [plot_rewind],
    "transport": [plot_transport],
    "replay": [plot_replay],
}


def write_plots(results: list[dict], out_dir: str) -> list[str]:
    """Write a PNG per chart the results allow into ``out_dir`` (created); returns the paths.

    Raises ``MissingMatplotlib`` (one line: what to install) when matplotlib is absent.
    """
    results = load_results(results)
    _figure()  # fail early and clearly without matplotlib, before creating anything
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for result in results:
        for plot in PLOTTERS.get(result.get("suite"), []):
            path = plot(result, out_dir)
            if path:
                paths.append(path)
    return paths


if __name__ == "__main__":  # python -m netcode.bench.plots results.json [OUT_DIR]
    import json
    import sys

    if len(sys.argv) < 2:
        sys.exit("usage: python -m netcode.bench.plots RESULTS.json [OUT_DIR]")
    try:
        with open(sys.argv[1]) as f:
            doc = json.load(f)
        for p in write_plots(load_results(doc), sys.argv[2] if len(sys.argv) > 2 else "plots"):
            print(p)
    except MissingMatplotlib as e:
        sys.exit(f"netcode: {e}")
    except (OSError, ValueError) as e:
        sys.exit(f"netcode: cannot plot {sys.argv[1]}: {e}")
