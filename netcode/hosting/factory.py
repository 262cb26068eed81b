"""Making a room's match server: a StateSyncServer or a LockstepServer of the room's game, on the room's
share of the host's transport, recording to the host's replay folder."""
from __future__ import annotations

import zlib

from ..game.registry import GameNotFound, load_announced
from .rooms import RoomSpec, RoomTransport


class RoomFactory:
    """Builds match servers for a host; a game is loaded only if trusted (built in, or --game / NETCODE_GAMES):
    on the development transport the room's game comes from a client's connect payload."""

    def __init__(self, record_dir: str | None = None, tick_rate: int = 60, frame_rate: int = 15,
                 npcs: int | None = None, seed: int = 1):
        self.record_dir = record_dir
        self.tick_rate = tick_rate
        self.frame_rate = frame_rate
        self.npcs = npcs
        self.seed = seed
        self._writer = None  # one replay writer thread for every room of this host

    def __call__(self, spec: RoomSpec, transport: RoomTransport, now: float, room_id: str):
        try:
            game = load_announced(spec.game, "the match")
        except GameNotFound as e:
            raise ValueError(str(e)) from None
        if spec.mode not in game.modes:
            raise ValueError(f"{game.name} has no {spec.mode} mode")
        options = dict(spec.options)
        if self.npcs is not None and "npcs" in game.options:
            options.setdefault("npcs", self.npcs)
        seed = zlib.crc32(room_id.encode(), self.seed)  # each room its own world, reproducible from its code
        if spec.mode == "state":
            return self._state(game, spec, options, transport, now, seed, room_id)
        return self._lockstep(game, spec, options, transport, now, seed)

    def _state(self, game, spec, options, transport, now, seed, room_id):
        from ..statesync.server import ServerConfig, StateSyncServer

        server = StateSyncServer.for_game(game, ServerConfig(tick_rate=self.tick_rate, max_clients=spec.players),
                                          seed=seed, options=options, now=now, spec=spec.game, transport=transport)
        if self.record_dir:
            from ..replay.writer import MatchRecorder, ReplayWriter

            if self._writer is None:
                self._writer = ReplayWriter("replay-writer host")
            MatchRecorder.attach(server, directory=self.record_dir, writer=self._writer, label=f"{room_id}-{seed}")
        return server

    def _lockstep(self, game, spec, options, transport, now, seed):
        from ..lockstep.server import LockstepConfig, LockstepServer

        config = LockstepConfig(frame_rate=self.frame_rate, players_per_match=spec.players, max_matches=1,
                                record_dir=self.record_dir, game_options=options, seed=seed)
        return LockstepServer(config, game=game, spec=spec.game, now=now, transport=transport)

    def close(self) -> None:
        """Every replay this factory's rooms wrote is complete on disk when this returns."""
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
