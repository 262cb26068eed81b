"""Which mode and game the server runs, told by its ACCEPT, so one client plays both modes of any game.

Both servers take the same connect payload (`{"name", "token"?}`) and answer with a mode and a game in
their transport ACCEPT payload (`{"mode": "state", "game": "arena", "game_version": 1, ...}`); a game
that is not installed here is refused in one line before anything else happens. A `ProbeSession`
connects with a bare `ModeProbe` endpoint; once connected it knows the mode, and `settle()` hands the
live connection (and the lag simulator the driver pumps) to a `ClientSession` or `LockstepSession`.
The probe leaves every transport event from ACCEPT on unread, so the game client that takes over
sees the connection from its start: no second connection, no slot taken twice.
"""
from __future__ import annotations

import attrs
import msgpack

from netcode.game import GameNotFound
from netcode.game.registry import load_announced
from netcode.protocol import ConnectFailed, Disconnected, TransportConfig
from netcode.protocol.transports import client_transport
from netcode.protocol.endpoint import TransportEndpoint
from netcode.wire.accept import MODE_NAMES, accept_info

from .base import SessionBase
from .lockstep_session import LockstepSession
from .scene import Scene
from .session import ClientSession

SESSIONS = {"state": ClientSession, "lockstep": LockstepSession}


def detect_mode(accept_payload: bytes) -> str | None:
    """"state", "lockstep", or None when the payload names neither."""
    mode = accept_info(accept_payload).get("mode")
    return mode if mode in SESSIONS else None


def game_problem(accept_payload: bytes) -> str | None:
    """Why we can't play the game the server's ACCEPT names (None: we can, or it names none)."""
    info = accept_info(accept_payload)
    spec = info.get("game")
    if not isinstance(spec, str):
        return None
    try:
        game = load_announced(spec)  # only a game we trust is imported: a server must not pick our code
    except GameNotFound as e:
        return str(e)
    version = info.get("game_version")
    if version is not None and version != game.version:
        return f"the server runs {game.name} version {version!r}; this client has version {game.version}"
    return None


@attrs.frozen
class ModeDetected:
    """The probe's verdict: the server's mode, and why its game can't be played here (if it can't)."""

    mode: str | None  # what the server's ACCEPT named (None: no mode we know)
    problem: str | None = None  # why its game can't be played here


@attrs.frozen
class ProbeLost:
    """The probe's connection failed before the server said its mode (``code``: the transport's reason)."""

    reason: str
    code: object = None


class ModeProbe(TransportEndpoint):
    """A sans-IO endpoint: a transport connection that has not chosen its game client yet."""

    def __init__(self, server_addr, name: str, token: int | None = None,
                 transport_config: TransportConfig | None = None, nonce: int | None = None, connect_token=None):
        info = {"name": name[:24]}
        if token is not None:
            info["token"] = token
        self.transport = client_transport(server_addr, transport_config, msgpack.packb(info), nonce, connect_token)
        self.accepted = False
        self.next_input = 0  # unused: the controls are handed over with the connection
        self._events: list = []

    def connect(self, now: float) -> None:
        self.transport.connect(now)

    def disconnect(self) -> None:
        self.transport.disconnect()

    def update(self, now: float) -> None:
        t = self.transport
        t.update(now)
        if self.accepted:
            return
        if t.connected:
            self.accepted = True
            self._events.append(ModeDetected(detect_mode(t.accept_payload), game_problem(t.accept_payload)))
            return  # Connected and whatever followed it stay queued for the game client
        for e in t.events():
            if isinstance(e, ConnectFailed):
                self._events.append(ProbeLost(f"could not connect: {e.reason}", e.reason))
            elif isinstance(e, Disconnected):
                self._events.append(ProbeLost(f"disconnected: {e.reason}", e.reason))



class ProbeSession(SessionBase):
    """The client until the server's mode is known: "connecting …", lag injection, frame timing.

    `expect` ("state"/"lockstep", from --mode): the mode to play when the server names none; a server
    that names another one is refused with a clear message rather than misread."""

    mode = "auto"

    def __init__(self, server_addr, name: str = "player", *, expect: str | None = None, **kw):
        self.expect = expect
        super().__init__(server_addr, name, **kw)

    def _make_client(self, token: int | None) -> ModeProbe:
        return ModeProbe(self.server_addr, self.name, token, self._transport_config(), self._nonce,
                         connect_token=self._connect_token())

    def _reset(self) -> None:
        self.detected: str | None = None  # the mode to play, once known

    def on_events(self, events: list, now: float) -> None:
        for e in events:
            if type(e) is ModeDetected:
                if e.problem is not None:
                    self.client.disconnect()
                    self._on_lost(e.problem)
                    continue
                self._on_detected(e.mode)
            elif type(e) is ProbeLost:
                self._on_lost(e.reason, e.code)

    def _on_detected(self, named: str | None) -> None:
        if named is not None and self.expect is not None and named != self.expect:
            self.client.disconnect()
            self._on_lost(f"the server runs {MODE_NAMES[named]}, not {MODE_NAMES[self.expect]} "
                          f"(drop --mode, or use --mode {named})")
            return
        self.detected = named or self.expect or "state"

    def frame(self, now: float) -> Scene:
        sc = Scene(now, self.status, self.message, self.toggles, lag_label=self.lag_label())
        sc.net_lines = self._transport_lines(now) + [self.lag_label()]
        return sc

    def summary(self, now: float) -> dict:
        return self._common_summary(now, 0.0)

    def hand_over(self) -> SessionBase:
        """The session for the detected mode, carrying on this connection, settings and measurements."""
        s = SESSIONS[self.detected](self.server_addr, self.name, **self.settings())
        s.adopt(self.endpoint, self.client.transport)
        s.metrics.started = self.metrics.started
        s.metrics.frames = self.metrics.frames
        s.metrics.frame_work = self.metrics.frame_work
        s.set_controls(attrs.evolve(self._controls, fire=False))
        return s


def new_session(mode: str, server_addr, name: str = "player", **kw) -> ProbeSession:
    """The session an app starts with: "auto" plays whatever the server runs; "state" or "lockstep" is
    played when the server names no mode, and refused when it names the other one."""
    return ProbeSession(server_addr, name, expect=None if mode == "auto" else mode, **kw)


def settle(session: SessionBase) -> SessionBase:
    """`session`, or — once a probe learned the server's mode — the game session that takes it over."""
    if isinstance(session, ProbeSession) and session.detected is not None:
        return session.hand_over()
    return session
