"""Lockstep timing, sans-IO: the input delay the server recommends, and the client's lead with time dilation.

A client's input for frame g must reach the server before the server builds g. With ``d`` frames of input delay
and a lead of ``L`` seconds (how far ahead of the frames it receives the client simulates), an input sent as the
client reaches frame f - d arrives RTT - L - d * interval before its frame would be built... so the client needs
``L + d * interval >= RTT + margin``. Without rollback L is 0 (the client plays only frames it has) and the
delay alone must cover the round trip; with rollback the client predicts L seconds ahead and the delay can be
0 (Photon Quantum, GGPO): the price is re-simulating up to L / interval frames when a prediction misses.

The server knows best whether the lead is right: it sees when each input arrives. It sends each client an
ADVICE (docs/LOCKSTEP.md) with the third least slack of its last 16 inputs (how long before their frame was
built they arrived); the client's ``Lead`` moves its lead so that slack sits at a small margin, and moves it
smoothly: it runs its frame clock at most ``DILATION`` faster or slower than real time (time dilation, as
Overwatch and Photon Quantum do) instead of jumping frames.
"""
from __future__ import annotations

import math
from collections import deque

SLACK_WINDOW = 16  # the server's ADVICE reports on this many of a client's latest inputs
DILATION = 0.05  # the client's frame clock runs at most 5 % off real time while its lead moves
SNAP = 0.25  # ... unless the lead is off by more than this: then it jumps (a start, or a link that changed a lot)
MIN_MARGIN = 0.004  # seconds an input should arrive before its frame, at least (timer grain, scheduling)
JITTER_MARGIN = 2.0  # ... and this many jitter deviations


def margin(jitter: float) -> float:
    """Seconds an input should reach the server before its frame is built, for a link with this jitter."""
    return max(MIN_MARGIN, JITTER_MARGIN * jitter)


def needed_frames(rtt: float, jitter: float, interval: float) -> int:
    """Frames of delay plus lead a client needs so that its inputs reach the server in time."""
    return max(0, math.ceil((rtt + margin(jitter)) / interval))


def delay_for(need: int, rollback_window: int | None) -> int:
    """The input delay in frames for a client whose link needs ``need`` frames of delay plus lead (the server's
    ADVICE says how many, from its own measure of the link).

    Without rollback the delay must cover the whole round trip. With rollback (``rollback_window`` frames of
    prediction) the lead covers it and the delay is 0 while the lead stays two frames inside the window
    (0 on a LAN); beyond, the delay takes the rest, so a bad link costs latency rather than stalls."""
    if not rollback_window:
        return max(1, need)
    return max(0, need - max(0, rollback_window - 2))


class Lead:
    """How far ahead (seconds) of the frames it receives a rollback client simulates; time-dilated moves."""

    def __init__(self, lead: float = 0.0, dilation: float = DILATION):
        self.value = lead
        self.target = lead
        self.dilation = dilation
        self._last: float | None = None
        self._history: deque = deque(maxlen=128)  # (time, lead) every 50 ms: what the lead was when inputs left

    def aim(self, rtt: float, jitter: float, delay: int, interval: float) -> None:
        """Aim from the client's own measure of the link (before the server has said anything)."""
        self.target = max(0.0, rtt + margin(jitter) - delay * interval)

    def advise(self, slack: float, jitter: float, age: float, now: float) -> None:
        """The server's ADVICE: inputs sent about ``age`` seconds ago arrived ``slack`` seconds before their
        frame (the third least of the last SLACK_WINDOW). They left with the lead of then, so the lead needed is that lead minus the
        slack: aim at it plus the margin. (Aiming from today's lead would wind up: the lead moves slowly.)"""
        then = self.value
        for t, v in reversed(self._history):
            then = v
            if t <= now - age:
                break
        self.target = max(0.0, then - slack + margin(jitter))

    def update(self, now: float) -> float:
        """Move towards the target at most ``dilation`` seconds per second (a jump when it is off by more than
        ``SNAP``: dilating 100 ms away at 5 % would take 2 s of late inputs); returns the lead."""
        if self._last is not None:
            step = (now - self._last) * self.dilation
            err = self.target - self.value
            self.value += err if abs(err) > SNAP else max(-step, min(step, err))
        self._last = now
        if not self._history or now - self._history[-1][0] >= 0.05:
            self._history.append((now, self.value))
        return self.value

    def jump(self, now: float) -> None:
        """Take the target at once (at the start of a match: nothing on screen to keep smooth yet)."""
        self.value = self.target
        self._last = now
