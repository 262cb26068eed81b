"""The matchmaker's logic, sans-IO: tickets, queues with their rules, placement on hosts by load, match
codes, reconnects. Requests and ``now`` in, tickets and assignments (an address and a connect token) out.
The HTTP API (netcode.aio.matchmaker) and the fleet directory (netcode.aio.fleet) are built on it.

A ticket is one party wanting one match: ``{game, mode, players, region, party}`` (``players``: the match size
it wants, ``party``: the names that must play together). A queue is (game, mode, players, region). When a
queue holds enough seats for a full match, a match is formed at once; when its oldest ticket has waited
``wait`` seconds and there are at least ``min_players`` seats, it starts with fewer (and ``bots`` seats are
filled with bots when the game has a brain). A match is placed on the host with the most free room (a room
code is made, the host creates the room when its first player arrives), and every party member gets a
connect token for that host naming the room.

Placement is one step for hosts the matchmaker runs itself (``update`` assigns at once). With
``confirm_placement`` (a fleet of hosts elsewhere, netcode.aio.fleet) it is two: ``update`` forms the match
and queues a ``Proposal`` for the chosen host (its tickets stay queued, held by it), the caller asks that host
and hands its answer to ``placement_answered``: the tickets are assigned if the host said yes, otherwise the
next host is proposed, and with no host left the tickets go back to their queue. A ticket is held by at most
one proposal, so it is never assigned twice, and a refused or unanswered proposal never drops one.
"""
from __future__ import annotations

import base64
import itertools
import os
from collections import Counter, deque

import attrs

from ..security.tokens import ConnectToken, TokenError, issue_token, open_private, pack_user_data, read_user_data
from .rooms import MODES, new_room_id

QUEUED, ASSIGNED, CANCELLED, EXPIRED = "queued", "assigned", "cancelled", "expired"


class MatchmakingError(ValueError):
    """A request the matchmaker refuses (one line, safe to show; HTTP 400/404/409)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@attrs.frozen
class QueueRules:
    """Per queue: how many players a match has at least and at most, and how long a ticket waits before a
    match starts with fewer (filled with bots if ``bots``)."""

    min_players: int = 2
    max_players: int = 8
    wait: float = 10.0
    bots: bool = True


@attrs.define
class Ticket:
    id: str
    game: str
    mode: str
    players: int
    region: str
    party: list
    created: float
    state: str = QUEUED
    assignment: dict | None = None
    pending: str | None = None  # the match code of the Proposal holding it (two-phase placement)

    def as_dict(self) -> dict:
        return {"ticket_id": self.id, "state": self.state, "game": self.game, "mode": self.mode,
                "players": self.players, "region": self.region, "party": self.party,
                "assignment": self.assignment}


@attrs.define
class HostEntry:
    """A host the matchmaker may place on: its address (what tokens name), its capacity, when last heard."""

    id: str
    address: tuple
    region: str = "local"
    capacity: dict = attrs.Factory(dict)
    seen: float = 0.0

    def free_rooms(self) -> int:
        return int(self.capacity.get("free_rooms", 0))


@attrs.define
class PlacedMatch:
    code: str
    host: HostEntry
    game: str
    mode: str
    players: int
    seats: int  # seats handed out so far
    created: float
    bots: int = 0

    def info(self) -> dict:
        return {"match_id": self.code, "game": self.game, "mode": self.mode, "players": self.players,
                "seats_taken": self.seats, "address": f"{self.host.address[0]}:{self.host.address[1]}"}


@attrs.define
class Proposal:
    """A match formed but not yet placed (``confirm_placement``): ``host`` is to be asked to take it."""

    code: str
    host: HostEntry
    game: str
    mode: str
    players: int
    region: str
    tickets: list
    created: float
    tried: set = attrs.Factory(set)  # host ids asked already
    done: bool = False

    def request(self) -> dict:
        """What the host is asked (netcode.aio.fleet's place request)."""
        return {"match": self.code, "game": self.game, "mode": self.mode, "players": self.players}


class Matchmaker:
    """Tickets to matches. ``issuer``: (private key, protocol id) shared with the hosts."""

    def __init__(self, private_key: bytes, protocol_id: int, rules: QueueRules | None = None,
                 rules_for: dict | None = None, host_timeout: float = 3.0, token_expire: int = 60,
                 ticket_ttl: float = 300.0, confirm_placement: bool = False):
        self.private_key = private_key
        self.protocol_id = protocol_id
        self.rules = rules or QueueRules()
        self.rules_for = rules_for or {}  # (game, mode) -> QueueRules
        self.host_timeout = host_timeout
        self.token_expire = token_expire
        self.ticket_ttl = ticket_ttl
        self.tickets: dict[str, Ticket] = {}
        self.queues: dict[tuple, deque] = {}
        self.hosts: dict[str, HostEntry] = {}
        self.matches: dict[str, PlacedMatch] = {}
        self.counters: Counter[str] = Counter()
        self.waits: list[float] = []  # seconds from ticket to assignment (the metrics take them)
        self.bot_requests: list[tuple[PlacedMatch, int]] = []  # (match, bots) for the runner to start
        self._ids = itertools.count(1)
        # two-phase placement: matches formed, waiting for their host's answer (the caller asks it)
        self.confirm_placement = confirm_placement
        self.proposals: deque[Proposal] = deque()
        self.pending: dict[str, Proposal] = {}  # code -> proposal asked and not answered yet

    # ------------------------------------------------------------------ hosts

    def host_seen(self, host_id: str, address, capacity: dict, now: float, region: str = "local") -> None:
        """A host's heartbeat: its capacity now."""
        h = self.hosts.get(host_id)
        if h is None:
            h = self.hosts[host_id] = HostEntry(host_id, tuple(address), region)
            self.counters["hosts joined"] += 1
        h.capacity, h.seen, h.address = dict(capacity), now, tuple(address)
        codes = capacity.get("room_codes")
        if codes is not None:
            # a match its host no longer runs (it ended empty, or its lockstep match finished) is not offered;
            # one placed moments ago may not have been created yet (its first player is on the way)
            live = set(codes)
            for code in [c for c, m in self.matches.items()
                         if m.host.id == host_id and c not in live and now - m.created > 30.0]:
                del self.matches[code]

    def host_gone(self, host_id: str) -> None:
        """A host said it is leaving (or is known dead): its matches are no longer offered."""
        if self.hosts.pop(host_id, None) is not None:
            for code in [c for c, m in self.matches.items() if m.host.id == host_id]:
                del self.matches[code]
            self.counters["hosts lost"] += 1

    def live_hosts(self, now: float, region: str | None = None) -> list[HostEntry]:
        return [h for h in self.hosts.values() if now - h.seen <= self.host_timeout and not h.capacity.get("draining")
                and (region in (None, "any") or h.region == region)]

    def expire_hosts(self, now: float) -> list[str]:
        """Forget hosts not heard from in ``host_timeout``: their matches are no longer offered."""
        gone = [hid for hid, h in self.hosts.items() if now - h.seen > self.host_timeout]
        for hid in gone:
            del self.hosts[hid]
            for code in [c for c, m in self.matches.items() if m.host.id == hid]:
                del self.matches[code]
            self.counters["hosts lost"] += 1
        return gone

    def _place(self, now: float, region: str, exclude=()) -> HostEntry:
        hosts = [h for h in self.live_hosts(now, region) if h.free_rooms() > 0 and h.id not in exclude] or \
            [h for h in self.live_hosts(now, None) if h.free_rooms() > 0 and h.id not in exclude]
        if not hosts:
            raise MatchmakingError("no host has room for a new match", 503)
        best = max(hosts, key=lambda h: (h.free_rooms(), -int(h.capacity.get("players", 0))))
        # count the room now, before its host's next heartbeat says so
        best.capacity["free_rooms"] = best.free_rooms() - 1
        best.capacity["rooms"] = int(best.capacity.get("rooms", 0)) + 1
        return best

    # ------------------------------------------------------------------ tickets

    def submit(self, request: dict, now: float) -> Ticket:
        game = str(request.get("game", "arena"))
        mode = str(request.get("mode", "state"))
        if mode not in MODES:
            raise MatchmakingError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        rules = self.rules_for.get((game, mode), self.rules)
        party = request.get("party") or [request.get("name") or "player"]
        if not isinstance(party, list) or not all(isinstance(p, str) and 0 < len(p) <= 24 for p in party):
            raise MatchmakingError("party must be a list of 1..24-character names")
        try:
            players = int(request.get("players", rules.max_players))
        except (TypeError, ValueError):
            raise MatchmakingError("players must be a number") from None
        if not 1 <= players <= 64 or len(party) > players:
            raise MatchmakingError(f"players must be 1..64 and at least the party's size ({len(party)})")
        region = str(request.get("region", "any"))[:32]
        t = Ticket(f"t{next(self._ids)}-{os.urandom(4).hex()}", game, mode, players, region, party, now)
        self.tickets[t.id] = t
        self.queues.setdefault((game, mode, players, region), deque()).append(t)
        self.counters["tickets"] += 1
        return t

    def get(self, ticket_id: str) -> Ticket:
        t = self.tickets.get(ticket_id)
        if t is None:
            raise MatchmakingError(f"no ticket {ticket_id!r}", 404)
        return t

    def cancel(self, ticket_id: str) -> Ticket:
        t = self.get(ticket_id)
        if t.state == QUEUED:
            t.state = CANCELLED
            self.counters["cancelled"] += 1
        return t

    def queue_lengths(self) -> dict:
        return {k: sum(1 for t in q if t.state == QUEUED) for k, q in self.queues.items()}

    def update(self, now: float) -> list[Ticket]:
        """Form every match that is due; returns the tickets assigned now."""
        self.expire_hosts(now)
        assigned = []
        for key, q in list(self.queues.items()):
            while q and q[0].state != QUEUED:
                q.popleft()
            if not q:
                del self.queues[key]
                continue
            game, mode, players, region = key
            rules = self.rules_for.get((game, mode), self.rules)
            while True:
                waiting = [t for t in q if t.state == QUEUED and t.pending is None]
                if not waiting:
                    break
                seats = sum(len(t.party) for t in waiting)
                full = seats >= players
                overdue = now - waiting[0].created >= rules.wait and seats >= min(rules.min_players, players)
                if not (full or overdue):
                    break
                group, n = [], 0
                for t in waiting:
                    if n + len(t.party) <= players:
                        group.append(t)
                        n += len(t.party)
                try:
                    if self.confirm_placement:
                        self._propose(game, mode, players, region, group, now)
                    else:
                        match = self._new_match(game, mode, players, region, now)
                        assigned += self._fill(match, group, rules, now)
                except MatchmakingError:
                    self.counters["no host"] += 1
                    break
                if not full:
                    break
        for t in [t for t in self.tickets.values() if now - t.created > self.ticket_ttl and t.pending is None]:
            if t.state == QUEUED:
                t.state = EXPIRED
            del self.tickets[t.id]
        return assigned

    def _new_match(self, game, mode, players, region, now) -> PlacedMatch:
        host = self._place(now, region)
        code = new_room_id(self.matches)
        m = self.matches[code] = PlacedMatch(code, host, game, mode, players, 0, now)
        self.counters["matches"] += 1
        return m

    def _fill(self, match: PlacedMatch, group: list, rules: QueueRules, now: float) -> list[Ticket]:
        """Seat ``group`` in ``match``; the seats left go to bots when the rules want them."""
        n = 0
        for t in group:
            self._assign(t, match, now)
            n += len(t.party)
        if n < match.players and rules.bots:
            match.bots = match.players - n
            match.seats += match.bots  # the bots' seats (a bot keeps its seat; players don't replace it)
            self.bot_requests.append((match, match.bots))
        return list(group)

    # ------------------------------------------------------------------ two-phase placement

    def _propose(self, game, mode, players, region, group, now) -> Proposal:
        host = self._place(now, region)
        code = new_room_id({**self.matches, **self.pending})
        p = Proposal(code, host, game, mode, players, region, list(group), now, tried={host.id})
        for t in group:
            t.pending = code
        self.pending[code] = p
        self.proposals.append(p)
        return p

    def placement_answered(self, p: Proposal, now: float, address=None, error: str | None = None) -> list[Ticket]:
        """``p``'s host answered: yes with the ``address`` its tokens are to name (the worker that keeps the
        room), or no (``error``: refused, or no answer in time). Yes: the tickets still queued are assigned
        (returned). No: that host gets no more until its next heartbeat, the next host is proposed (queued
        in ``proposals`` again), and when none is left the tickets go back to their queue."""
        if p.done:
            return []
        self.pending.pop(p.code, None)
        if address is not None:
            p.done = True
            tickets = [t for t in p.tickets if t.pending == p.code]
            for t in tickets:
                t.pending = None
            live = [t for t in tickets if t.state == QUEUED]  # not cancelled or expired meanwhile
            if not live:
                self.counters["placements unused"] += 1
                return []
            host = self.hosts.get(p.host.id, p.host)
            # the match's own entry names the worker that keeps it (what tokens and bots connect to)
            entry = attrs.evolve(host, address=tuple(address), capacity={})
            m = self.matches[p.code] = PlacedMatch(p.code, entry, p.game, p.mode, p.players, 0, now)
            self.counters["matches"] += 1
            return self._fill(m, live, self.rules_for.get((p.game, p.mode), self.rules), now)
        self.counters["placements refused"] += 1
        p.host.capacity["free_rooms"] = 0  # until its next heartbeat says otherwise
        try:
            p.host = self._place(now, p.region, exclude=p.tried)
        except MatchmakingError:
            p.done = True
            for t in p.tickets:
                if t.pending == p.code:
                    t.pending = None  # back in its queue, where it kept its place: formed again next update
            self.counters["no host"] += 1
            return []
        p.tried.add(p.host.id)
        self.pending[p.code] = p
        self.proposals.append(p)
        return []

    def _assign(self, t: Ticket, m: PlacedMatch, now: float) -> None:
        members = [self.seat(m, name, now) for name in t.party]
        t.state = ASSIGNED
        t.assignment = {**members[0], "party": members}
        self.waits.append(now - t.created)
        self.counters["assigned"] += 1

    # ------------------------------------------------------------------ seats and tokens

    def seat(self, m: PlacedMatch, name: str, now: float, client_id: int | None = None) -> dict:
        """A connect token for one player of ``m`` (a new seat unless ``client_id`` comes back)."""
        if client_id is None:
            if m.seats >= m.players:
                raise MatchmakingError(f"match {m.code} is full", 409)
            m.seats += 1
            client_id = int.from_bytes(os.urandom(8), "little")
        user = pack_user_data({"name": name[:24], "match": m.code, "game": m.game, "mode": m.mode,
                               "players": m.players})
        token = issue_token(self.private_key, client_id, [m.host.address], now, protocol_id=self.protocol_id,
                            expire_seconds=self.token_expire, user_data=user)
        return {"match_id": m.code, "address": f"{m.host.address[0]}:{m.host.address[1]}", "name": name[:24],
                "client_id": client_id, "connect_token": base64.b64encode(token.to_bytes()).decode("ascii")}

    def join_code(self, code: str, name: str, now: float) -> dict:
        """Join a match by its code (a lobby pick, or a code a friend read out)."""
        m = self.matches.get(code.strip().upper())
        if m is None:
            raise MatchmakingError(f"no open match {code!r}", 404)
        self.counters["joined by code"] += 1
        return self.seat(m, name, now)

    def reconnect(self, connect_token_b64: str, unix_now: float) -> dict:
        """A fresh token for the same player and match: the old token proves who it is (only its holder and
        the issuer know its private part), even after it expired."""
        try:
            old = ConnectToken.from_bytes(base64.b64decode(connect_token_b64, validate=True))
            private = open_private(old.private_data, old.protocol_id, old.expire_timestamp, old.nonce,
                                   self.private_key)
        except (TokenError, ValueError):
            raise MatchmakingError("not a connect token this matchmaker issued") from None
        fields = read_user_data(private.user_data)
        m = self.matches.get(fields.get("match"))
        if m is None:
            raise MatchmakingError(f"match {fields.get('match')!r} is over or its host is gone", 404)
        self.counters["reconnects"] += 1
        return self.seat(m, str(fields.get("name", "player")), unix_now, client_id=private.client_id)

    def lobby(self, now: float) -> list[dict]:
        """Open matches (a seat left), for a lobby list."""
        return [m.info() for m in self.matches.values() if m.seats < m.players]

    def forget_match(self, code: str) -> None:
        self.matches.pop(code, None)
