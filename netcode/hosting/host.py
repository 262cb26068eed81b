"""The sans-IO host: many rooms (matches of any game, either mode) on one transport, so one UDP port.

**Routing.** A player reaches a room by what it connects with: on the secure transport, the connect token's
user data (``{"match": code, "game", "mode", "players"}``, written by the matchmaker, which the client can't
change); on the development transport, the same keys in the connect payload. The transport asks the host for
each new connection's accept payload (``accept_for``); the host finds the room, or creates it from those
fields when it is new and there is room for it, and answers with that room's accept payload (its mode and
game), or refuses. Then every event of that connection goes to that room. docs/PROTOCOL.md, "Hosting".

**Time.** Each room keeps its own schedule (a state-sync room its own FixedTicker started when it was made, a
lockstep room its own frames), so a room whose tick runs late only delays itself at the next deadline.
A room ends when it has been empty for ``empty_grace`` seconds (or its lockstep match ended): its replay is
closed, its memory freed.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

import attrs

from ..protocol.events import Connected, Disconnected, MessageReceived
from .rooms import MODES, RoomSpec, RoomTransport


@attrs.frozen
class HostConfig:
    """How many rooms one host runs, and when an empty one ends."""

    max_rooms: int = 64
    empty_grace: float = 10.0  # seconds a room with nobody in it waits for someone to (re)join
    start_grace: float = 30.0  # seconds a new room waits for its first player
    record_dir: str | None = None
    # a room's tick percentiles count from this many seconds after it was made (joins and first full
    # snapshots are not the steady state), as `netcode serve --warmup` does
    tick_warmup: float = 3.0


@attrs.define
class Room:
    """One match: its id (the match code), what it runs, the match server, and its share of the transport."""

    id: str
    spec: RoomSpec
    server: object  # StateSyncServer or LockstepServer
    transport: RoomTransport
    created: float
    empty_since: float | None = None
    players_ever: int = 0
    warm: bool = False  # its tick durations were cleared after the warm-up
    pending: tuple | None = None  # (seconds, ticks) of its last update, charged once its flush is timed too

    @property
    def mode(self) -> str:
        return self.spec.mode

    def clients(self) -> int:
        return len(self.transport.connections)

    def seats_left(self) -> int:
        return max(0, self.spec.players - self.clients())

    def info(self) -> dict:
        out = {"match_id": self.id, **self.spec.as_fields(), "clients": self.clients()}
        if self.mode == "state":
            t = self.server.ticker.stats()
            out.update(tick_p50_ms=t["p50_ms"], tick_p99_ms=t["p99_ms"], tick_samples=t["samples"])
        return out


RoomFactory = Callable[[RoomSpec, RoomTransport, float, str], object]


def match_fields(identity, payload: bytes) -> dict:
    """The routing keys a new connection brought: the token's user data (secure), else its connect payload."""
    import msgpack

    if identity is not None:
        return identity.fields
    try:
        info = msgpack.unpackb(payload, raw=False) if payload else {}
    except Exception:  # noqa: BLE001 - a malformed payload routes nowhere
        return {}
    return info if isinstance(info, dict) else {}


class Host:
    """Rooms on one ServerProtocol or SecureServerProtocol; an Endpoint for the driver."""

    def __init__(self, transport, factory: RoomFactory, config: HostConfig | None = None,
                 on_room_end: Callable[[Room], None] | None = None):
        self.transport = transport
        self.factory = factory
        self.config = config or HostConfig()
        self.rooms: dict[str, Room] = {}
        self.counters: Counter[str] = Counter()
        self.on_room_end = on_room_end
        self.draining = False  # no new rooms (SIGTERM): the running ones play on
        self._route: dict[int, Room] = {}  # client id -> its room
        self._admitted: dict[object, Room] = {}  # address -> room, between accept_for and Connected
        self._now = 0.0
        self._events: list = []
        # The asyncio layer may hand in a clock (a callable giving seconds) to time each state-sync room's
        # ticks: (game, mode) -> tick durations since the runner last took them, for the metrics.
        self.clock = None
        self.tick_times: dict[tuple, list] = {}
        self.late_ticks = 0
        self.traffic: Counter[str] = Counter()  # bytes and packets in and out, every room together
        transport.accept_for = self._accept_for

    # ------------------------------------------------------------------ rooms

    def create_room(self, spec: RoomSpec, now: float, room_id: str | None = None) -> Room:
        """Make a room now (the matchmaker's request, or the first player's token). ValueError when the host
        is full or draining, or the game refuses the spec."""
        if self.draining:
            raise ValueError("host is draining")
        if len(self.rooms) >= self.config.max_rooms:
            raise ValueError(f"host full ({self.config.max_rooms} rooms)")
        from .rooms import new_room_id

        room_id = room_id or new_room_id(self.rooms)
        if room_id in self.rooms:
            return self.rooms[room_id]
        rt = RoomTransport(self.transport)
        server = self.factory(spec, rt, now, room_id)
        room = self.rooms[room_id] = Room(room_id, spec, server, rt, now)
        self.counters["rooms created"] += 1
        return room

    def _accept_for(self, identity, payload: bytes, addr) -> bytes | None:
        fields = match_fields(identity, payload)
        code = fields.get("match")
        if not isinstance(code, str):
            self.counters["refused: no match"] += 1
            return None
        room = self.rooms.get(code)
        if room is None:
            try:
                spec = RoomSpec(str(fields.get("game", "arena")), str(fields.get("mode", "state")),
                                int(fields.get("players", 8)))
                room = self.create_room(spec, self._now, code)
            except (ValueError, TypeError) as e:
                self.counters[f"refused: {str(e)[:60]}"] += 1
                return None
        if room.seats_left() <= 0 or (room.mode == "lockstep" and _lockstep_over(room.server)):
            self.counters["refused: room full"] += 1
            return None
        self._admitted[addr] = room
        return room.server.accept_payload

    def _end_room(self, room: Room, now: float) -> None:
        del self.rooms[room.id]
        for cid in list(room.transport.connections):
            self.transport.disconnect(cid)
        server = room.server
        if room.mode == "lockstep":
            server.shutdown()
        elif getattr(server, "recorder", None) is not None:
            server.recorder.close(wait=False)  # the writer thread finishes the file
            server.recorder = None
        self.counters["rooms ended"] += 1
        if self.on_room_end is not None:
            self.on_room_end(room)

    # ------------------------------------------------------------------ routing

    def _route_events(self, now: float) -> set:
        touched = set()
        for e in self.transport.events():
            if type(e) is MessageReceived:
                room = self._route.get(e.client_id)
                if room is not None:
                    room.transport.route(e)
                    touched.add(room.id)
            elif isinstance(e, Connected):
                room = self._admitted.pop(e.addr, None)
                if room is None or room.id not in self.rooms:
                    self.transport.disconnect(e.client_id)  # its room ended meanwhile
                    continue
                conn = self.transport.connections.get(e.client_id)
                self._route[e.client_id] = room
                room.transport.route(e, conn)
                room.players_ever += 1
                room.empty_since = None
                touched.add(room.id)
                if room.mode == "lockstep":
                    room.server.request_flush()
            elif isinstance(e, Disconnected):
                room = self._route.pop(e.client_id, None)
                if room is not None:
                    room.transport.route(e)
                    room.transport.forget(e.client_id)
                    if not room.transport.connections:
                        room.empty_since = now
                    touched.add(room.id)
                    if room.mode == "lockstep":
                        room.server.request_flush()
        return touched

    # ------------------------------------------------------------------ endpoint

    def receive_datagram(self, data: bytes, addr, now: float) -> None:
        self._now = now
        traffic = self.traffic
        traffic["packets_in"] += 1
        traffic["bytes_in"] += len(data)
        self.transport.receive_datagram(data, addr, now)
        for room_id in self._route_events(now):
            room = self.rooms.get(room_id)
            if room is not None and room.mode == "state":
                # handled on arrival, as a lone StateSyncServer does: an input's margin is measured now
                room.server.on_events(room.transport.events(), now)

    def update(self, now: float) -> None:
        self._now = now
        self.transport.update(now)
        self._route_events(now)
        c = self.config
        clock = self.clock
        for room in list(self.rooms.values()):
            if not room.warm and now - room.created >= c.tick_warmup and room.mode == "state":
                room.server.ticker.clear_durations()
                room.warm = True
            if clock is not None and room.mode == "state":
                t0 = clock()
                ticks = room.server.update(now)
                if ticks:
                    room.pending = (clock() - t0, ticks)
            else:
                room.server.update(now)
            idle = room.empty_since if room.players_ever else room.created
            grace = c.empty_grace if room.players_ever else c.start_grace
            over = room.mode == "lockstep" and _lockstep_over(room.server) and room.players_ever
            if (not room.transport.connections and idle is not None and now - idle >= grace) or over:
                self._end_room(room, now)

    def datagrams_to_send(self, now: float) -> list:
        out = self.transport.control_datagrams(now)
        clock = self.clock
        for room in self.rooms.values():
            if room.pending is None:
                out.extend(room.server.datagrams_to_send(now))
                continue
            # a tick's time is its update and the flush that sends what it made (as ServerRunner times a
            # lone server's), so a host's figures and `netcode serve`'s are the same measurement
            t0 = clock()
            out.extend(room.server.datagrams_to_send(now))
            spent, ticks = room.pending
            room.pending = None
            per = (spent + clock() - t0) / ticks
            self.tick_times.setdefault((room.spec.game, "state"), []).extend([per] * ticks)
            for _ in range(ticks):
                room.server.ticker.record(per)  # the room's own tick percentiles (Room.info)
            if per > room.server.ticker.interval:
                self.late_ticks += ticks
        if out:
            self.traffic["packets_out"] += len(out)
            self.traffic["bytes_out"] += sum(len(d) for d, _ in out)
        return out

    def get_timer(self) -> float | None:
        t = self.transport.control_timer()
        for room in self.rooms.values():
            r = room.server.get_timer()
            if r is not None and (t is None or r < t):
                t = r
        # rooms waiting to end, and the shared transport's own timeouts, at least every 0.5 s
        soon = self._now + 0.5
        return soon if t is None or t > soon else t

    def events(self) -> list:
        ev, self._events = self._events, []
        return ev

    def on_bind(self, address, unix_offset: float) -> None:
        hook = getattr(self.transport, "on_bind", None)
        if hook is not None:
            hook(address, unix_offset)

    # ------------------------------------------------------------------ numbers

    def capacity(self) -> dict:
        """What the host holds and could still take (the matchmaker places by it)."""
        players = sum(r.clients() for r in self.rooms.values())
        return {"rooms": len(self.rooms), "max_rooms": self.config.max_rooms, "players": players,
                "free_rooms": 0 if self.draining else self.config.max_rooms - len(self.rooms),
                "draining": self.draining}

    def room_counts(self) -> dict:
        """(game, mode) -> [rooms, clients], for the metrics."""
        out: dict = {}
        for r in self.rooms.values():
            v = out.setdefault((r.spec.game, r.mode), [0, 0])
            v[0] += 1
            v[1] += r.clients()
        return out

    def rewind_clamps(self) -> int:
        return sum(r.server.lagcomp.totals()["clamped"] for r in self.rooms.values() if r.mode == "state")

    def lobby(self) -> list[dict]:
        """Rooms with a seat left, for a lobby list."""
        return [r.info() for r in self.rooms.values() if r.seats_left() > 0 and not (
            r.mode == "lockstep" and _lockstep_over(r.server))]


def _lockstep_over(server) -> bool:
    """A lockstep room whose match started and ended (a new one would need a new room)."""
    return bool(server.results) and not server.matches


__all__ = ["Host", "HostConfig", "Room", "RoomSpec", "MODES", "match_fields"]
