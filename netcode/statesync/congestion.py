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
DEEP_QUEUE, DEEP_BACKOFF = 0.25, 0.5  # with this much queue delay (s), cut to this share instead
RECOVER_BPS = 8_000  # while clear: this many bit/s more each evaluation (32 kbit/s per second)
CEILING_NEAR = 0.9  # above this share of the last filling rate, recover at an eighth of RECOVER_BPS
DRAINING = 0.9  # the queue is draining while the delay is below this share of what it was at the last cut
MIN_BPS = 16_000
MIN_SNAPSHOT_BYTES = 200  # below this per snapshot, send fewer snapshots instead
MAX_EVERY = 6  # at most this many ticks between two snapshots
# What a snapshot costs a link besides its message: IPv4 and UDP headers (28), the transport's prefix, check and
# ack tail (18) and the message header (3). The budget is judged in these bytes: at 60 snapshots a second they are
# ~23 kbit/s, which a payload-only budget would put on a slow link unseen (it overfilled 128 kbit/s at a payload
# budget of ~110 kbit/s, and every change between 1 and 2 ticks per snapshot moved it by half of that).
SNAPSHOT_OVERHEAD = 49


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
        """``max_bps``: the configured payload budget; the adaptive one counts SNAPSHOT_OVERHEAD too."""
        self.rate = float(snapshots_per_s)
        self.max_bps = float(max_bps) + 8.0 * SNAPSHOT_OVERHEAD * self.rate
        self.budget_bps = self.max_bps
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
        self._acked = -1  # the newest snapshot tick acknowledged
        # After a back-off the queue needs one ack time to show the cut, then drains: no second cut before that,
        # nor while the delay keeps falling (cutting again on a queue that is draining undershoots the link).
        self._hold_until = 0.0
        self._delay_at_backoff = 0.0
        self._ceiling = math.inf  # what the link delivered when it last filled: recovery slows down near it
        # How much larger than its budget a rationed snapshot came out (the encoder's cost estimate leaves out
        # e.g. the held mask): the budget handed to the encoder is divided by it, so the wire follows the budget.
        self.overshoot = 1.0
        self.queue_delay = 0.0  # the latest ack time above the base, seconds (0: no standing queue)
        self._strikes = 0

    @property
    def _target_bytes(self) -> float:
        return max(1.0, self.budget_bps / 8.0 / (self.rate / self.every) - SNAPSHOT_OVERHEAD)

    @property
    def snapshot_bytes(self) -> float:
        """Bytes one snapshot's message may use now, by the encoder's estimate."""
        return self._target_bytes / self.overshoot

    def sent(self, tick: int, nbytes: int, now: float, rationed: bool = False) -> None:
        """A snapshot message of ``nbytes`` went out; ``rationed``: its budget bound (entities were held)."""
        self._sent[tick] = (now, nbytes + SNAPSHOT_OVERHEAD)
        if rationed:
            ratio = min(4.0, max(1.0, nbytes / self._target_bytes))
            self.overshoot += (ratio - self.overshoot) * 0.1
        if len(self._sent) > 256:
            for t in sorted(self._sent)[:64]:
                del self._sent[t]

    def acked(self, tick: int, now: float) -> None:
        """The client acknowledged ``tick`` (and with it every snapshot before it). Every ack counts, also one
        for a snapshot the server no longer keeps as a delta baseline: behind a slow link those are the acks
        that show the queue."""
        if tick <= self._acked:
            return
        self._acked = tick
        got = self._sent.get(tick)
        done = [t for t in self._sent if t <= tick]
        self._bucket_bytes += sum(self._sent.pop(t)[1] for t in done)
        if got is not None and len(self._bucket) < 256:
            self._bucket.append(now - got[0])

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
        medians = self._medians
        if self._bucket:
            bucket = sorted(self._bucket)
            self._bucket.clear()
            recent = bucket[len(bucket) // 2]  # the median since the last evaluation: one late ack is not a queue
        elif medians and self._sent:
            # No ack since the last evaluation: the oldest snapshot still unacknowledged has waited at least
            # this long. A queue that grew past every ack would otherwise leave the server blind to it.
            recent = now - next(iter(self._sent.values()))[0]
            base = min(m for _, m in medians)
            if recent <= base + max(QUEUE_DELAY, 0.25 * base):
                return  # the next ack is not late yet: nothing to judge by
        else:
            return
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
            draining = recent < DRAINING * self._delay_at_backoff
            if draining:
                self._delay_at_backoff = recent  # a cut again when it stops falling
            elif now >= self._hold_until:
                span = max(EVAL_S, len(self._delivered) * EVAL_S)
                delivered_bps = 8.0 * sum(b for _, b in self._delivered) / span
                # a deep queue (a link slower than the budget from the start) is drained at half the link's rate
                # rather than a seventh of it
                cut = BACKOFF if self.queue_delay < DEEP_QUEUE else DEEP_BACKOFF
                self.budget_bps = max(MIN_BPS, min(self.budget_bps, delivered_bps) * cut)
                self._ceiling = max(MIN_BPS, delivered_bps)
                self._hold_until = now + recent
                self._delay_at_backoff = recent
                c.backoffs += 1
        elif not congested and self.budget_bps < self.max_bps:
            # additive increase, slower once near the rate at which the link last filled (CUBIC's plateau, crudely)
            step = RECOVER_BPS if self.budget_bps < CEILING_NEAR * self._ceiling else RECOVER_BPS / 8
            self.budget_bps = min(self.max_bps, self.budget_bps + step)
            c.recoveries += 1
        c.min_budget_bps = min(c.min_budget_bps, self.budget_bps)
        # the fewest ticks between snapshots that leave each at least MIN_SNAPSHOT_BYTES of message
        per_tick = self.budget_bps / 8.0 / self.rate
        every = 1
        while every < MAX_EVERY and every * per_tick - SNAPSHOT_OVERHEAD < MIN_SNAPSHOT_BYTES:
            every += 1
        self.every = every
