"""Prometheus metrics of a host (prometheus_client): what its workers last reported, and its matchmaker's
queues. Served as text on /metrics. No per-player labels: games, modes, directions and drop reasons only."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from .host_worker import TICK_BUCKETS

WAIT_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)


class HostCollector:
    """Builds the metric families at each scrape from ``statuses`` (worker index -> its last status line) and
    the matchmaker ``mm`` (None when the host runs none)."""

    def __init__(self, statuses: dict, mm=None):
        self.statuses = statuses
        self.mm = mm
        self.wait_counts = [0] * (len(WAIT_BUCKETS) + 1)
        self.wait_sum = 0.0

    def note_waits(self, waits: list) -> None:
        for w in waits:
            self.wait_sum += w
            for i, edge in enumerate(WAIT_BUCKETS):
                if w <= edge:
                    self.wait_counts[i] += 1
                    break
            else:
                self.wait_counts[-1] += 1

    def collect(self):
        statuses = [s for s in self.statuses.values() if "capacity" in s]
        up = GaugeMetricFamily("netcode_workers_up", "Host worker processes reporting")
        up.add_metric([], len(statuses))
        yield up
        rooms = GaugeMetricFamily("netcode_matches", "Matches (rooms) running", labels=["game", "mode"])
        clients = GaugeMetricFamily("netcode_clients", "Clients connected", labels=["game", "mode"])
        by: dict = {}
        for s in statuses:
            for game, mode, n, c in s.get("room_counts", []):
                v = by.setdefault((game, mode), [0, 0])
                v[0] += n
                v[1] += c
        for (game, mode), (n, c) in sorted(by.items()):
            rooms.add_metric([game, mode], n)
            clients.add_metric([game, mode], c)
        yield rooms
        yield clients
        hist = HistogramMetricFamily("netcode_tick_duration_seconds", "State-sync tick duration", labels=["game"])
        games: dict = {}
        for s in statuses:
            for game, counts in s.get("tick_hist", {}).items():
                g = games.setdefault(game, [[0] * len(counts), 0.0])
                g[0] = [a + b for a, b in zip(g[0], counts)]
            for game, total in s.get("tick_sum", {}).items():
                games.setdefault(game, [[0] * (len(TICK_BUCKETS) + 1), 0.0])[1] += total
        for game, (counts, total) in sorted(games.items()):
            hist.add_metric([game], _cumulative(TICK_BUCKETS, counts), total)
        yield hist
        for name, key, doc in (("netcode_bytes", "bytes", "UDP payload bytes"),
                               ("netcode_packets", "packets", "UDP datagrams")):
            fam = CounterMetricFamily(name, doc, labels=["direction"])
            for direction in ("in", "out"):
                fam.add_metric([direction], sum(s.get("traffic", {}).get(f"{key}_{direction}", 0) for s in statuses))
            yield fam
        drops = CounterMetricFamily("netcode_dropped_datagrams", "Datagrams dropped, by reason", labels=["reason"])
        reasons: dict = {}
        for s in statuses:
            for reason, n in s.get("drops", {}).items():
                reasons[reason] = reasons.get(reason, 0) + n
        for reason, n in sorted(reasons.items()):
            drops.add_metric([reason], n)
        yield drops
        for name, key, doc in (("netcode_late_ticks", "late_ticks", "Ticks that took longer than their interval"),
                               ("netcode_rewind_clamps", "rewind_clamps", "Shots whose rewind was clamped")):
            fam = CounterMetricFamily(name, doc)
            fam.add_metric([], sum(s.get(key, 0) for s in statuses))
            yield fam
        if self.mm is not None:
            q = GaugeMetricFamily("netcode_matchmaker_queue_tickets", "Tickets waiting", labels=["game", "mode"])
            lengths: dict = {}
            for (game, mode, _, _), n in self.mm.queue_lengths().items():
                lengths[(game, mode)] = lengths.get((game, mode), 0) + n
            for (game, mode), n in sorted(lengths.items()):
                q.add_metric([game, mode], n)
            yield q
            w = HistogramMetricFamily("netcode_matchmaker_wait_seconds", "Time from ticket to assignment")
            w.add_metric([], _cumulative(WAIT_BUCKETS, self.wait_counts), self.wait_sum)
            yield w
            for key in ("tickets", "assigned", "matches", "cancelled", "hosts lost"):
                fam = CounterMetricFamily(f"netcode_matchmaker_{key.replace(' ', '_')}", f"Matchmaker: {key}")
                fam.add_metric([], self.mm.counters.get(key, 0))
                yield fam


def _cumulative(edges, counts) -> list:
    out, total = [], 0
    for edge, n in zip(edges, counts):
        total += n
        out.append((repr(float(edge)), total))
    out.append(("+Inf", total + (counts[-1] if len(counts) > len(edges) else 0)))
    return out


def registry_for(collector) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(collector)
    return reg


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
