"""Each client's snapshot budget and rate, following what its link delivers, sans-IO.

A fixed budget (Quake 3's ``rate``, our ``budget_bps``) is right for one link and wrong for the next: behind a
slower bottleneck the server keeps sending faster than the link drains, a queue stands in front of it, and
every snapshot waits in it — the client sees the world later and later, until the queue overflows and loses
whole runs of snapshots. So the server watches, per client, how long each snapshot takes from being sent to
being acknowledged (the client acknowledges the newest snapshot it decoded in every INPUT): a link without a
queue answers in its base round trip; a standing queue shows as that time rising above its best of the last
seconds (the delay-based signal of LEDBAT and of WebRTC's congestion control; judged on the median of each
quarter-second, so that jitter alone does not read as a queue). Loss alone is not a signal: a game's links lose
packets at random (Wi-Fi) without being full. On a rise that holds for two evaluations the budget drops to what
was actually delivered
(acknowledged bytes per second) times a back-off;
while the link is clear it climbs back additively, to the configured budget. When the budget is too small for a
useful snapshot every tick, the client gets fewer, larger snapshots instead (every 2nd, 3rd ... tick, as Photon
Fusion's adaptive send rate does), so the newest state is not starved by headers.
"""
from __future__ import annotations

import math
from collections import deque

import attrs

# A queue is standing when acks take this much longer than the best quarter-second median of the window (and a
# quarter of it), for STRIKES evaluations in a row: a GC pause or one late loop of either process passes; a client
# process that stays behind looks like a queue to the server, and then fewer snapshots are what it needs too.
QUEUE_DELAY = 0.02
STRIKES = 2
WINDOW_S = 8.0  # the base ack time is taken over this long (a path change shows within it)
EVAL_S = 0.25  # the budget is re-judged this often
BACKOFF = 0.85  # on congestion: this times what was delivered
RECOVER_BPS = 8_000  # while clear: this many bit/s more each evaluation (32 kbit/s per second)
MIN_BPS = 16_000
MIN_SNAPSHOT_BYTES = 200  # below this per snapshot, send fewer snapshots instead
MAX_EVERY = 6  # at most this many ticks between two snapshots


@attrs.define
class RateCounters:
    """What the adaptation did for one client."""

    backoffs: int = 0
    recoveries: int = 0
    min_budget_bps: float = math.inf


class SnapshotRate:
    """One client's adaptive budget: ``sent`` each snapshot, ``acked`` each new ack, ``update`` with the time;
    read ``budget_bps`` and ``every`` (send a snapshot on ticks where tick % every == 0 of the snapshot grid)."""

    def __init__(self, max_bps: float, snapshots_per_s: float):
        self.max_bps = float(max_bps)
        self.rate = float(snapshots_per_s)
        self.budget_bps = float(max_bps)
        self.every = 1
        self.counters = RateCounters()
        self._sent: dict[int, tuple[float, int]] = {}  # snapshot tick -> (sent at, bytes)
        # A few floats per client, however long it plays: the ack times since the last evaluation, and one median
        # and one byte count per evaluation of the window (64 clients at 60 Hz would otherwise hold ~30,000 samples)
        self._bucket: list[float] = []
        self._bucket_bytes = 0
        self._medians: deque = deque()  # (time, median ack seconds of one evaluation)
        self._delivered: deque = deque()  # (time, bytes acknowledged in one evaluation)
        self._next_eval: float | None = None
        self.queue_delay = 0.0  # the latest ack time above the base, seconds (0: no standing queue)
        self._strikes = 0

    @property
    def snapshot_bytes(self) -> float:
        """Bytes one snapshot may use now."""
        return self.budget_bps / 8.0 / (self.rate / self.every)

    def sent(self, tick: int, nbytes: int, now: float) -> None:
        self._sent[tick] = (now, nbytes)
        if len(self._sent) > 256:
            for t in sorted(self._sent)[:64]:
                del self._sent[t]

    def acked(self, tick: int, now: float) -> None:
        """The client acknowledged ``tick`` (and with it every snapshot before it)."""
        got = self._sent.get(tick)
        if got is None:
            return
        t0, _ = got
        done = [t for t in self._sent if t <= tick]
        self._bucket_bytes += sum(self._sent.pop(t)[1] for t in done)
        if len(self._bucket) < 256:
            self._bucket.append(now - t0)

    def update(self, now: float) -> None:
        """Re-judge the budget (every EVAL_S). Loss is not an input: random loss is not congestion."""
        if self._next_eval is None:
            self._next_eval = now + EVAL_S
        if now < self._next_eval:
            return
        self._next_eval = now + EVAL_S
        self._delivered.append((now, self._bucket_bytes))
        self._bucket_bytes = 0
        while self._delivered and self._delivered[0][0] < now - 1.0:
            self._delivered.popleft()
        if not self._bucket:
            return  # no ack since the last evaluation: nothing to judge by
        bucket = sorted(self._bucket)
        self._bucket.clear()
        recent = bucket[len(bucket) // 2]  # the median since the last evaluation: one late ack is not a queue
        medians = self._medians
        medians.append((now, recent))
        while medians[0][0] < now - WINDOW_S:
            medians.popleft()
        base = min(m for _, m in medians)  # the link without a queue: the best quarter-second of the window
        self.queue_delay = max(0.0, recent - base)
        congested = self.queue_delay > max(QUEUE_DELAY, 0.25 * base)
        # a queue stands; a stall of one side's process (a GC pause, a busy loop) passes: back off only when the
        # delay held for STRIKES evaluations in a row
        self._strikes = self._strikes + 1 if congested else 0
        c = self.counters
        if self._strikes >= STRIKES:
            span = max(EVAL_S, len(self._delivered) * EVAL_S)
            delivered_bps = 8.0 * sum(b for _, b in self._delivered) / span
            self.budget_bps = max(MIN_BPS, min(self.budget_bps, delivered_bps) * BACKOFF)
            c.backoffs += 1
        elif self.budget_bps < self.max_bps:
            self.budget_bps = min(self.max_bps, self.budget_bps + RECOVER_BPS)
            c.recoveries += 1
        c.min_budget_bps = min(c.min_budget_bps, self.budget_bps)
        per_snapshot = self.budget_bps / 8.0 / self.rate
        self.every = max(1, min(MAX_EVERY, math.ceil(MIN_SNAPSHOT_BYTES / max(1.0, per_snapshot))))
