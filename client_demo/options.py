"""The demo client's options: one frozen object, built once by the command line (or a test) and read everywhere."""
from __future__ import annotations

import attrs

MODES = ("auto", "state", "lockstep")


@attrs.frozen(kw_only=True)
class ClientOptions:
    """How one run of the client plays: where, as whom, under what injected network, shown how.

    ``duration`` 0 means until the window closes (or Ctrl-C); headless runs default to 10 s. ``lag`` and
    ``jitter`` are round-trip milliseconds, ``loss`` and ``dup`` percent per direction. ``bot``: the game's
    bot plays with this behaviour ("auto": its most active; the default when headless). ``mode``: "auto"
    learns from the server's ACCEPT whether it runs state sync or lockstep."""

    server: tuple[str, int]
    name: str = "player"
    headless: bool = False
    duration: float = 0.0
    lag: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    dup: float = 0.0
    json_path: str | None = None
    screenshot: str | None = None
    size: tuple[int, int] = (1280, 720)
    net_graph: bool = False
    fps: int = 60
    seed: int | None = None
    connect_timeout: float = 5.0
    bot: str | None = None
    quiet: bool = False
    render: bool = True
    mode: str = attrs.field(default="auto", validator=attrs.validators.in_(MODES))
    rollback: int = 8  # lockstep: frames of prediction and rollback (0: play complete frames only)
    # a secure server: called for each new connection, gives its connect token (None: the insecure transport)
    credentials: object = None

    @property
    def lagged(self) -> bool:
        return bool(self.lag or self.jitter or self.loss or self.dup)

    def evolve(self, **changes) -> ClientOptions:
        return attrs.evolve(self, **changes)
