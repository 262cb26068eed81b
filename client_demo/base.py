"""What every client session shares, whatever the server's mode: the connection behind the lag
simulator, lag presets, connection-loss wording, frame-time measurements and the transport's net-graph lines.

A session subclass builds its endpoint client in `_make_client(token)`; the base wraps it in a
`LaggedEndpoint` (`self.endpoint`, what the driver pumps) and handles (re)connecting.
"""
from __future__ import annotations

import abc
from collections import deque

import attrs
import numpy as np

from netcode.netsim.lagged import LaggedEndpoint, symmetric_links
from netcode.protocol import ConnectError, DisconnectReason, TransportConfig

from .games.base import Controls
from .scene import Toggles

LAG_PRESETS = (0, 50, 150, 300)  # added round-trip ms, cycled with L


class Rate:
    """Rate of a cumulative counter over the last `window` seconds."""

    def __init__(self, window: float = 1.0):
        self.window = window
        self._q: deque[tuple[float, float]] = deque()

    def add(self, now: float, total: float) -> float:
        q = self._q
        q.append((now, total))
        while len(q) > 2 and q[1][0] <= now - self.window:
            q.popleft()
        t0, v0 = q[0]
        return (total - v0) / (now - t0) if now > t0 else 0.0


@attrs.define
class FrameTimes:
    """Rendered frames and their cost (every session measures these)."""

    started: float = 0.0
    frames: int = 0
    frame_work: list = attrs.Factory(list)  # seconds of logic + render per frame


class SessionBase(abc.ABC):
    """A client session's mode-independent half: server address, lag injection, connection, frame timing."""

    mode = "?"

    def __init__(self, server_addr, name: str = "player", *, lag_ms: float = 0.0, jitter_ms: float = 0.0,
                 loss_pct: float = 0.0, dup_pct: float = 0.0, seed: int | None = None, connect_timeout: float = 5.0,
                 token: int | None = None, toggles: Toggles | None = None, nonce: int | None = None,
                 credentials=None, rollback: int = 8):
        self.server_addr = server_addr
        self.rollback = rollback  # lockstep: frames of prediction and rollback (0: complete frames only)
        self.credentials = credentials  # () -> a connect token for a new connection, for a secure server
        self.name = name
        self.seed = seed
        self.connect_timeout = connect_timeout
        self.toggles = toggles or Toggles()
        self.lag = (lag_ms, jitter_ms, loss_pct, dup_pct)
        self._nonce = nonce
        self.metrics = self._new_metrics()
        self.token = token  # from our welcome: reclaims our player on a reconnect
        self._controls = Controls()
        self._new_connection(token)

    def settings(self) -> dict:
        """The constructor arguments that reproduce this session's setup (for a session of another mode)."""
        lag, jitter, loss, dup = self.lag
        return {"lag_ms": lag, "jitter_ms": jitter, "loss_pct": loss, "dup_pct": dup, "seed": self.seed,
                "connect_timeout": self.connect_timeout, "toggles": self.toggles, "nonce": self._nonce,
                "credentials": self.credentials, "rollback": self.rollback}

    def _connect_token(self) -> bytes | None:
        return self.credentials() if self.credentials is not None else None

    # ------------------------------------------------------------------ to implement

    def _new_metrics(self) -> FrameTimes:
        return FrameTimes()

    @abc.abstractmethod
    def _make_client(self, token: int | None):
        """The endpoint client of this mode (a StateSyncClient, LockstepClient or ModeProbe)."""

    def _reset(self) -> None:
        """Forget everything about the previous connection (called for each new one)."""

    # ------------------------------------------------------------------ connection

    def _transport_config(self) -> TransportConfig:
        return TransportConfig(connect_timeout=self.connect_timeout)

    def _new_connection(self, token: int | None) -> None:
        self.client = self._make_client(token)
        self.endpoint = LaggedEndpoint(self.client, *symmetric_links(*self.lag), seed=self.seed)
        self.status = "connecting"
        self._closing = False
        self.message: str | None = f"connecting to {self._addr_text()} …"
        self.lost_reason: str | None = None
        self.lost_code = None  # the transport's DisconnectReason or ConnectError, when it ended the session
        self._rates = {k: Rate() for k in ("in", "out", "frames")}
        self._rate_values = dict.fromkeys(self._rates, 0.0)
        self._reset()

    def adopt(self, endpoint: LaggedEndpoint, transport) -> None:
        """Carry on an established connection: `transport` (its ClientProtocol, events not yet read) becomes
        our client's, and `endpoint` — the lag simulator the driver already pumps — wraps our client."""
        self.client.transport = transport
        endpoint.inner = self.client
        self.endpoint = endpoint

    def _addr_text(self) -> str:
        a = self.server_addr
        return f"{a[0]}:{a[1]}" if isinstance(a, tuple) and len(a) == 2 else str(a)

    def start(self, now: float) -> None:
        self.metrics.started = now
        self.client.connect(now)

    def reconnect(self, now: float) -> None:
        """Start over with a new connection, reclaiming our player with the welcome token if we had one."""
        self.client.disconnect()
        if self._nonce is not None:
            self._nonce += 1  # a new attempt (a fixed nonce only makes tests reproducible)
        self._new_connection(self.token)
        self.client.connect(now)

    def close(self) -> None:
        """Disconnect (the DISCONNECT goes out unimpaired, or it might never leave)."""
        self._closing = True
        self.endpoint.set_links(*symmetric_links())
        self.client.disconnect()

    def _on_lost(self, reason: str, code=None) -> None:
        if self.status == "lost" or self._closing:
            return
        self.status = "lost"
        self.lost_reason = reason
        self.lost_code = code
        self.message = f"{self.explain(reason, code)} — press C to reconnect"

    def explain(self, reason: str, code=None) -> str:
        """Why we lost the server, in words for the player (``code``: the transport's DisconnectReason or
        ConnectError, when the transport ended it)."""
        if code is ConnectError.TIMED_OUT:
            return f"no answer from {self._addr_text()} (is the server running?)"
        if code is DisconnectReason.REMOTE_CLOSED:
            return f"the server closed the connection ({reason})"
        if code is DisconnectReason.TIMEOUT:
            return f"the server stopped answering ({reason})"
        return reason

    # ------------------------------------------------------------------ input

    def set_controls(self, controls: Controls) -> None:
        """The player's current controls; the game's view turns them into the input the client samples once
        per input tick (or frame). Before the server named its game there is nothing to send."""
        self._controls = controls

    def set_input(self, move_x: int = 0, move_y: int = 0, aim: int = 0, fire: bool = False, alt: bool = False,
                  sprint: bool = False) -> None:
        """``set_controls`` by field."""
        self.set_controls(Controls(int(move_x), int(move_y), int(aim) & 4095, bool(fire), bool(alt), bool(sprint)))

    def apply_toggles(self) -> None:
        """Push the toggles into whatever they switch (they take effect on the next frame)."""

    # ------------------------------------------------------------------ lag presets

    def set_lag(self, lag_ms: float, jitter_ms: float | None = None, loss_pct: float | None = None,
                dup_pct: float | None = None) -> None:
        _, jitter, loss, dup = self.lag
        self.lag = (lag_ms, jitter if jitter_ms is None else jitter_ms, loss if loss_pct is None else loss_pct,
                    dup if dup_pct is None else dup_pct)
        up, down = symmetric_links(*self.lag)
        self.endpoint.set_links(up, down)

    def cycle_lag(self) -> float:
        """Next of the 0/50/150/300 ms presets (keeps jitter/loss/dup); returns the new added RTT in ms."""
        cur = self.lag[0]
        nxt = next((p for p in LAG_PRESETS if p > cur), LAG_PRESETS[0])
        self.set_lag(nxt)
        return nxt

    def lag_label(self) -> str:
        lag, jit, loss, dup = self.lag
        parts = [f"+{lag:g} ms RTT"]
        if jit:
            parts.append(f"±{jit:g} ms")
        if loss:
            parts.append(f"{loss:g}% loss")
        if dup:
            parts.append(f"{dup:g}% dup")
        return "lag " + " ".join(parts) if (lag or jit or loss or dup) else "no added lag"

    # ------------------------------------------------------------------ measurements

    def note_frame(self, now: float, work: float) -> None:
        """The app finished a frame that took `work` seconds of logic + render."""
        m = self.metrics
        m.frames += 1
        if len(m.frame_work) < 1_000_000:
            m.frame_work.append(work)
        self._rate_values["frames"] = self._rates["frames"].add(now, m.frames)

    def _stats(self):
        conn = self.client.transport.connection
        return conn.stats if conn is not None else None

    def _transport_lines(self, now: float) -> list[str]:
        """The net graph's first lines: fps and frame time, RTT/jitter/loss, traffic."""
        st = self._stats()
        r, rv = self._rates, self._rate_values
        if st is not None:
            rv["in"] = r["in"].add(now, st.bytes_in * 8 / 1000)
            rv["out"] = r["out"].add(now, st.bytes_out * 8 / 1000)
        work = self.metrics.frame_work[-60:]
        lines = [f"fps {rv['frames']:5.1f}   frame {1000 * (sum(work) / len(work) if work else 0):5.2f} ms"]
        if st is not None:
            lines.append(f"rtt {st.rtt * 1000:6.1f} ms  jitter {st.jitter * 1000:5.1f} ms  "
                         f"loss out {st.loss * 100:4.1f} % in {st.loss_in * 100:4.1f} %")
            lines.append(f"in {rv['in']:6.1f} kbit/s   out {rv['out']:6.1f} kbit/s")
        else:
            lines.append("rtt  —  (not connected)")
        return lines

    def _common_summary(self, now: float, playing: float) -> dict:
        """The mode-independent measurements (`playing`: seconds since the game started for us)."""
        m = self.metrics
        st = self._stats()
        elapsed = max(now - m.started, 1e-9)
        work = np.asarray(m.frame_work) if m.frame_work else np.zeros(1)
        return {
            "server": self._addr_text(), "mode": self.mode, "connected": self.status in ("playing", "ended"),
            "lost_reason": self.lost_reason, "duration_s": elapsed, "playing_s": playing, "frames": m.frames,
            "fps": m.frames / elapsed, "frame_ms_mean": float(work.mean() * 1000),
            "frame_ms_p50": float(np.percentile(work, 50) * 1000),
            "frame_ms_p99": float(np.percentile(work, 99) * 1000),
            "rtt_ms": st.rtt * 1000 if st else None, "jitter_ms": st.jitter * 1000 if st else None,
            "loss": st.loss if st else None,  # ours the server never acked (recent)
            "loss_in": st.loss_in if st else None,  # the server's datagrams that never came (whole run)
            "kbit_in": (st.bytes_in * 8 / 1000 / playing) if st and playing else 0.0,
            "kbit_out": (st.bytes_out * 8 / 1000 / playing) if st and playing else 0.0,
            "lag": {"lag_ms": self.lag[0], "jitter_ms": self.lag[1], "loss_pct": self.lag[2], "dup_pct": self.lag[3]},
        }
