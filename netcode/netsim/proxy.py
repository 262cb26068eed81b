"""Lag-simulating UDP proxy, sans-IO core: per-client impairment of both directions, plus timelines.

``LagProxy`` sits between many clients and one upstream server. Each client address gets a
session with its own pair of ``netsim.Link`` objects (``up`` = client → upstream, ``down`` =
upstream → client), seeded from (proxy seed, client address) with ``netsim.derive_link_seed``
exactly as ``NetworkSimulator`` seeds its directions, so a client's fate depends only on the seed,
its address and its own traffic — never on which other clients are connected.

Nothing here touches a socket or a clock: the caller passes ``now`` (seconds) to every call, asks
``due(now)`` what to send and sleeps until ``next_time()``. ``netcode/aio/lagproxy.py`` is the
asyncio driver; ``Timeline`` scripts config changes over time (grammar in ``docs/LAGSIM.md``).
"""
from __future__ import annotations

import bisect
import heapq
import math
import re
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, NamedTuple

from .link import PROFILES, Link, LinkConfig, _resolve_seed, derive_link_seed

__all__ = [
    "DIRECTIONS",
    "DOWN",
    "UP",
    "LagProxy",
    "profile",
    "Session",
    "Timeline",
    "TimelineError",
    "TimelineStep",
]

UP = "up"  # client → upstream
DOWN = "down"  # upstream → client
DIRECTIONS = (UP, DOWN)
_INDEX = {UP: 0, DOWN: 1}

Address = Hashable


def _direction_indices(direction: str) -> tuple[int, ...]:
    if direction == "both":
        return (0, 1)
    try:
        return (_INDEX[direction],)
    except KeyError:
        raise ValueError(f"direction must be 'up', 'down' or 'both', got {direction!r}") from None


def profile(name: str) -> LinkConfig:
    """``PROFILES[name]`` with an error that lists the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r} (known: {', '.join(PROFILES)})") from None


class Session:
    """One client's state: its two links, activity time, and per-link wake-up bookkeeping."""

    __slots__ = ("client", "links", "armed", "created", "last_seen", "alive")

    def __init__(self, client: Address, up: Link, down: Link, now: float) -> None:
        self.client = client
        self.links = (up, down)
        self.armed = [math.inf, math.inf]  # earliest wake-up queued for each link
        self.created = now
        self.last_seen = now
        self.alive = True

    @property
    def up(self) -> Link:
        return self.links[0]

    @property
    def down(self) -> Link:
        return self.links[1]


class LagProxy:
    """Sans-IO UDP proxy core: ``from_client``/``from_upstream`` in, ``due`` out.

    ``up``/``down`` are the initial (and ``base``) configs of each direction; ``down`` defaults to
    ``up``. A session is created by a client's first datagram and expires after ``idle_timeout``
    seconds without a datagram in either direction (packets still in flight then are discarded
    and counted as dropped). At most ``max_clients`` sessions exist at once; datagrams from further
    clients are rejected (counted). Datagrams from upstream for a client without a session are
    dropped (``orphans``).
    """

    def __init__(self, upstream_addr: Address, up: LinkConfig = PROFILES["perfect"], down: LinkConfig | None = None,
                 seed: int | None = None, idle_timeout: float = 30.0, max_clients: int = 1024) -> None:
        down = up if down is None else down
        for name, config in (("up", up), ("down", down)):
            if not isinstance(config, LinkConfig):
                raise TypeError(f"{name} must be a LinkConfig, got {type(config).__name__}")
        if not (isinstance(idle_timeout, (int, float)) and idle_timeout > 0):
            raise ValueError(f"idle_timeout must be > 0 seconds, got {idle_timeout!r}")
        if not (isinstance(max_clients, int) and max_clients >= 1):
            raise ValueError(f"max_clients must be an integer >= 1, got {max_clients!r}")
        self.upstream_addr = upstream_addr
        self.seed = _resolve_seed(seed)
        self.idle_timeout = float(idle_timeout)
        self.max_clients = max_clients
        self.base_up = up
        self.base_down = down
        self._configs = [up, down]
        self._sessions: OrderedDict[Address, Session] = OrderedDict()  # least recently active first
        self._wakeups: list[tuple[float, int, Session, int]] = []
        self._wakeup_seq = 0
        self._send_seq = 0
        self.sessions_created = 0
        self.sessions_expired = 0
        self.rejected = 0
        self.orphans = 0
        # Counters of expired sessions' links, so totals survive expiry.
        self._retired = [dict.fromkeys(_LINK_COUNTERS, 0), dict.fromkeys(_LINK_COUNTERS, 0)]
        self._dropped_expired = [0, 0]
        self._delay_sum = [0.0, 0.0]  # simulated delay (delivery time - arrival time) of delivered packets
        self._delay_count = [0, 0]

    # --- configuration -----------------------------------------------------------------------

    @property
    def up_config(self) -> LinkConfig:
        return self._configs[0]

    @property
    def down_config(self) -> LinkConfig:
        return self._configs[1]

    def config(self, direction: str) -> LinkConfig:
        return self._configs[_INDEX[direction]]

    def set_config(self, up: LinkConfig | None = None, down: LinkConfig | None = None) -> None:
        """Set one or both directions for every session, present and future (packets sent from now on)."""
        for index, config in ((0, up), (1, down)):
            if config is None:
                continue
            if not isinstance(config, LinkConfig):
                raise TypeError(f"config must be a LinkConfig, got {type(config).__name__}")
            if config is self._configs[index]:
                continue
            self._configs[index] = config
            for session in self._sessions.values():
                session.links[index].config = config

    def set_direction(self, direction: str, config: LinkConfig) -> None:
        """Set ``direction`` ('up', 'down' or 'both') to ``config``."""
        indices = _direction_indices(direction)
        self.set_config(up=config if 0 in indices else None, down=config if 1 in indices else None)

    def set_profile(self, name: str, direction: str = "both") -> None:
        """Switch ``direction`` to the named ``netsim.PROFILES`` entry."""
        self.set_direction(direction, profile(name))

    def update(self, direction: str = "both", **changes: Any) -> None:
        """Change fields of the current config, e.g. ``update(latency=0.1, loss=0.05)``."""
        indices = _direction_indices(direction)
        new = [self._configs[i].replace(**changes) if i in indices else None for i in (0, 1)]
        self.set_config(up=new[0], down=new[1])

    def reset(self, direction: str = "both") -> None:
        """Back to the configs the proxy was created with."""
        indices = _direction_indices(direction)
        self.set_config(up=self.base_up if 0 in indices else None, down=self.base_down if 1 in indices else None)

    # --- traffic ------------------------------------------------------------------------------

    def from_client(self, data: bytes, client_addr: Address, now: float) -> Session | None:
        """A datagram from ``client_addr`` arrived at the proxy; returns its session (None if rejected)."""
        sessions = self._sessions
        session = sessions.get(client_addr)
        if session is None:
            if len(sessions) >= self.max_clients:
                self.rejected += 1
                return None
            session = self._open(client_addr, now)
        else:
            session.last_seen = now
            sessions.move_to_end(client_addr)
        self._send(session, 0, data, now)
        return session

    def from_upstream(self, data: bytes, client_addr: Address, now: float) -> bool:
        """A datagram from upstream arrived on ``client_addr``'s upstream socket; False if no such session."""
        session = self._sessions.get(client_addr)
        if session is None:
            self.orphans += 1
            return False
        session.last_seen = now
        self._sessions.move_to_end(client_addr)
        self._send(session, 1, data, now)
        return True

    def due_timed(self, now: float) -> list[tuple[float, str, Address, bytes]]:
        """Everything to send at or before ``now`` as (due time, direction, client address, data).

        Ordered by due time, ties by arrival order at the proxy. ``direction`` 'up' means send
        ``data`` to the upstream from the client's own upstream socket; 'down' means send it to
        the client from the listening socket.
        """
        wakeups = self._wakeups
        found: list[tuple[float, int, int, Address, bytes]] = []
        delay_sum, delay_count = self._delay_sum, self._delay_count
        while wakeups and wakeups[0][0] <= now:
            when, _, session, index = heapq.heappop(wakeups)
            if not session.alive or session.armed[index] != when:
                continue  # stale: the session ended, or a later wake-up of this link superseded it
            session.armed[index] = math.inf
            link = session.links[index]
            for item in link.receive(now):
                send_seq, arrived = item.meta
                delay_sum[index] += item.time - arrived
                found.append((item.time, send_seq, index, session.client, item.data))
            self._arm(session, index)
        if not found:
            return []
        found.sort(key=lambda x: (x[0], x[1]))
        for item in found:
            delay_count[item[2]] += 1
        return [(t, DIRECTIONS[index], client, data) for t, _, index, client, data in found]

    def due(self, now: float) -> list[tuple[str, Address, bytes]]:
        """Like ``due_timed`` without the times: (direction, client address, data)."""
        return [(direction, client, data) for _, direction, client, data in self.due_timed(now)]

    def next_time(self) -> float | None:
        """When ``due``/``expire`` next have work: the earliest delivery or idle expiry; None if never."""
        wakeups = self._wakeups
        while wakeups and (not wakeups[0][2].alive or wakeups[0][2].armed[wakeups[0][3]] != wakeups[0][0]):
            heapq.heappop(wakeups)  # stale entries (see ``_arm``)
        t = wakeups[0][0] if wakeups else math.inf
        if self._sessions:
            oldest = next(iter(self._sessions.values()))
            t = min(t, oldest.last_seen + self.idle_timeout)
        return None if t == math.inf else t

    def expire(self, now: float) -> list[Address]:
        """End sessions idle for ``idle_timeout`` seconds; returns their client addresses."""
        expired = []
        sessions, timeout = self._sessions, self.idle_timeout
        while sessions:
            client, session = next(iter(sessions.items()))
            if now - session.last_seen < timeout:
                break
            del sessions[client]
            self._retire(session)
            expired.append(client)
        return expired

    def close_session(self, client_addr: Address) -> bool:
        """End ``client_addr``'s session now (e.g. its upstream socket failed)."""
        session = self._sessions.pop(client_addr, None)
        if session is None:
            return False
        self._retire(session)
        return True

    # --- inspection ---------------------------------------------------------------------------

    @property
    def clients(self) -> int:
        return len(self._sessions)

    def session(self, client_addr: Address) -> Session | None:
        return self._sessions.get(client_addr)

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def stats(self) -> dict[str, Any]:
        """Totals since creation (expired sessions included), per direction plus session counts.

        Per direction: ``received`` datagrams entering the proxy, ``forwarded`` datagrams handed out
        by ``due`` (duplicates included), ``dropped`` (= ``dropped_loss`` + ``dropped_queue`` +
        ``dropped_expired``), ``duplicated``, ``reordered``, ``in_flight``, bytes, the configured
        ``latency``/``jitter``/``loss`` now in force and ``mean_delay`` (mean simulated one-way
        delay of forwarded packets, seconds; ``delay_sum`` lets callers compute interval means).
        """
        out: dict[str, Any] = {
            "clients": len(self._sessions),
            "sessions": self.sessions_created,
            "expired": self.sessions_expired,
            "rejected": self.rejected,
            "orphans": self.orphans,
        }
        for index, name in enumerate(DIRECTIONS):
            totals = dict(self._retired[index])
            totals["in_flight"] = 0
            for session in self._sessions.values():
                for key, value in session.links[index].stats().items():
                    totals[key] = totals.get(key, 0) + value
            config = self._configs[index]
            count = self._delay_count[index]
            out[name] = {
                "received": totals["sent"],
                "forwarded": totals["delivered"],
                "dropped": totals["dropped_loss"] + totals["dropped_queue"] + self._dropped_expired[index],
                "dropped_loss": totals["dropped_loss"],
                "dropped_queue": totals["dropped_queue"],
                "dropped_expired": self._dropped_expired[index],
                "duplicated": totals["duplicated"],
                "reordered": totals["reordered"],
                "in_flight": totals["in_flight"],
                "bytes_in": totals["bytes_sent"],
                "bytes_out": totals["bytes_delivered"],
                "delay_sum": self._delay_sum[index],
                "mean_delay": self._delay_sum[index] / count if count else None,
                "latency": config.latency,
                "jitter": config.jitter,
                "loss": config.loss,
            }
        return out

    # --- internals ----------------------------------------------------------------------------

    def _open(self, client: Address, now: float) -> Session:
        up = Link(self._configs[0], seed=derive_link_seed(self.seed, client, self.upstream_addr))
        down = Link(self._configs[1], seed=derive_link_seed(self.seed, self.upstream_addr, client))
        session = self._sessions[client] = Session(client, up, down, now)
        self.sessions_created += 1
        return session

    def _send(self, session: Session, index: int, data: bytes, now: float) -> None:
        session.links[index].send(data, now, meta=(self._send_seq, now))
        self._send_seq += 1
        self._arm(session, index)

    def _arm(self, session: Session, index: int) -> None:
        # Invariant: a link with packets in flight has exactly one live heap entry, at its earliest
        # delivery time, recorded in ``session.armed``. Entries are only pushed when earlier than the
        # armed one; superseded (later) entries stay in the heap and are skipped when popped.
        t = session.links[index].next_delivery_time()
        if t is not None and t < session.armed[index]:
            session.armed[index] = t
            heapq.heappush(self._wakeups, (t, self._wakeup_seq, session, index))
            self._wakeup_seq += 1

    def _retire(self, session: Session) -> None:
        session.alive = False
        self.sessions_expired += 1
        for index, link in enumerate(session.links):
            retired = self._retired[index]
            stats = link.stats()
            self._dropped_expired[index] += stats.pop("in_flight")
            for key, value in stats.items():
                retired[key] += value


# ``Link.stats()`` keys other than ``in_flight``.
_LINK_COUNTERS = ("sent", "delivered", "dropped_loss", "dropped_queue", "duplicated", "reordered", "bytes_sent",
                  "bytes_delivered")


# --- timelines ------------------------------------------------------------------------------------


class TimelineError(ValueError):
    """A malformed timeline line; ``str()`` is one line naming the source and line number."""

    def __init__(self, source: str, lineno: int, message: str) -> None:
        super().__init__(f"{source} line {lineno}: {message}")
        self.source = source
        self.lineno = lineno
        self.message = message


class TimelineStep(NamedTuple):
    """One parsed timeline line. ``kind``: set, profile, reset, outage or ramp."""

    lineno: int
    start: float
    end: float  # == start for set/profile/reset
    directions: tuple[int, ...]
    kind: str
    changes: tuple[tuple[str, Any], ...] = ()  # set: (LinkConfig field, value) pairs
    profile: str = ""
    field: str = ""  # ramp: LinkConfig field
    ramp_from: float = 0.0
    ramp_to: float = 0.0


_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(ms|s|m|min)$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0}
_PERCENT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)%$")
_RATE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(bps|kbps|mbps|gbps)$")
_RATE_UNITS = {"bps": 1.0, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9}
_OFF = ("off", "none", "unlimited")

# timeline keyword → (LinkConfig field, value kind)
_FIELDS: dict[str, tuple[str, str]] = {
    "latency": ("latency", "duration"),
    "jitter": ("jitter", "duration"),
    "loss": ("loss", "percent"),
    "dup": ("duplicate", "percent"),
    "duplicate": ("duplicate", "percent"),
    "reorder": ("reorder", "percent"),
    "reorder-delay": ("reorder_delay", "duration"),
    "bandwidth": ("bandwidth_bps", "rate"),
    "queue": ("queue_limit_bytes", "bytes"),
    "burst": ("", "burst"),
    "burst-loss": ("", "burst"),
}
_RAMPABLE = ("latency", "jitter", "loss", "dup", "duplicate", "reorder", "reorder-delay", "bandwidth")
_DIRECTION_WORDS = {"up": (0,), "down": (1,), "both": (0, 1)}


class _LineError(Exception):
    pass


def _parse_duration(token: str, what: str) -> float:
    m = _DURATION.match(token)
    if m is None:
        if re.match(r"^-", token):
            raise _LineError(f"{what} must not be negative, got {token!r}")
        if re.match(r"^(\d+(?:\.\d*)?|\.\d+)$", token):
            raise _LineError(f"{what} {token!r} needs a unit: ms, s or min (e.g. {token}s)")
        raise _LineError(f"{what} must be a duration like 250ms, 10s or 2min, got {token!r}")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def _parse_percent(token: str, what: str) -> float:
    m = _PERCENT.match(token)
    if m is None:
        raise _LineError(f"{what} must be a percentage like 10% or 0.5%, got {token!r}")
    value = float(m.group(1))
    if value > 100:
        raise _LineError(f"{what} must be at most 100%, got {token!r}")
    return value / 100.0


def _parse_rate(token: str, what: str, allow_off: bool = True) -> float | None:
    if allow_off and token in _OFF:
        return None
    m = _RATE.match(token)
    if m is None or float(m.group(1)) <= 0:
        off = " or off" if allow_off else ""
        raise _LineError(f"{what} must be a rate > 0 like 500kbps or 2mbps{off}, got {token!r}")
    return float(m.group(1)) * _RATE_UNITS[m.group(2)]


def _parse_value(keyword: str, kind: str, tokens: list[str], pos: int) -> tuple[list[tuple[str, Any]], int]:
    """Parse the value(s) of ``keyword`` starting at tokens[pos]; return changes and next position."""
    field = _FIELDS[keyword][0]
    if kind == "burst":
        if pos < len(tokens) and tokens[pos] in _OFF:
            return [("burst_enter", 0.0), ("burst_exit", 0.0), ("burst_loss", 0.0)], pos + 1
        if pos + 3 > len(tokens):
            raise _LineError(f"{keyword} takes ENTER% EXIT% LOSS% (e.g. {keyword} 1% 25% 90%) or off")
        enter, exit_, loss = (_parse_percent(tokens[pos + i], f"{keyword} {name}")
                              for i, name in enumerate(("ENTER", "EXIT", "LOSS")))
        if enter > 0 and exit_ == 0:
            raise _LineError(f"{keyword} EXIT must be > 0% when ENTER > 0% (the burst would never end)")
        return [("burst_enter", enter), ("burst_exit", exit_), ("burst_loss", loss)], pos + 3
    if pos >= len(tokens):
        raise _LineError(f"{keyword} needs a value")
    token = tokens[pos]
    if kind == "duration":
        value: Any = _parse_duration(token, keyword)
    elif kind == "percent":
        value = _parse_percent(token, keyword)
    elif kind == "rate":
        value = _parse_rate(token, keyword)
    else:  # bytes
        if token in _OFF:
            value = None
        elif token.isdigit() and int(token) > 0:
            value = int(token)
        else:
            raise _LineError(f"{keyword} must be a whole number of bytes > 0 or off, got {token!r}")
    return [(field, value)], pos + 1


def _parse_line(tokens: list[str], lineno: int) -> TimelineStep:
    if tokens[0] == "at":
        if len(tokens) < 3:
            raise _LineError("expected 'at TIME [up|down|both] ACTION'")
        start = end = _parse_duration(tokens[1], "time")
        pos = 2
    elif tokens[0] == "from":
        if len(tokens) < 5 or tokens[2] != "to":
            raise _LineError("expected 'from TIME to TIME [up|down|both] outage|ramp ...'")
        start = _parse_duration(tokens[1], "start time")
        end = _parse_duration(tokens[3], "end time")
        if end <= start:
            raise _LineError(f"end time {tokens[3]} must be after start time {tokens[1]}")
        pos = 4
    else:
        raise _LineError(f"a line starts with 'at' or 'from', got {tokens[0]!r}")
    directions = (0, 1)
    if tokens[pos] in _DIRECTION_WORDS:
        directions = _DIRECTION_WORDS[tokens[pos]]
        pos += 1
        if pos >= len(tokens):
            raise _LineError("missing action after the direction")
    action, args = tokens[pos], tokens[pos + 1:]
    window = tokens[0] == "from"

    if action == "outage":
        if window:
            if args:
                raise _LineError(f"unexpected {args[0]!r} after 'outage' (the window gives its length)")
        else:
            if len(args) != 1:
                raise _LineError("expected 'at TIME outage DURATION', e.g. at 10s outage 3s")
            length = _parse_duration(args[0], "outage duration")
            if length <= 0:
                raise _LineError("outage duration must be > 0")
            end = start + length
        return TimelineStep(lineno, start, end, directions, "outage")
    if action == "ramp":
        if not window:
            raise _LineError("a ramp needs a window: 'from TIME to TIME ramp FIELD FROM TO'")
        if args and args[0] not in _FIELDS:
            raise _LineError(f"unknown field {args[0]!r} (rampable: {', '.join(_RAMPABLE)})")
        if len(args) not in (3, 4) or (len(args) == 4 and args[2] != "to"):
            raise _LineError("expected 'ramp FIELD FROM TO', e.g. ramp latency 50ms 300ms")
        keyword = args[0]
        if keyword not in _RAMPABLE:
            raise _LineError(f"{keyword} cannot be ramped (rampable: {', '.join(_RAMPABLE)})")
        field, kind = _FIELDS[keyword]
        parse = {"duration": _parse_duration, "percent": _parse_percent,
                 "rate": lambda token, what: _parse_rate(token, what, allow_off=False)}[kind]
        lo, hi = parse(args[1], keyword), parse(args[-1], keyword)
        return TimelineStep(lineno, start, end, directions, "ramp", field=field, ramp_from=lo, ramp_to=hi)
    if window:
        raise _LineError(f"'from ... to ...' takes 'outage' or 'ramp FIELD FROM TO', got {action!r}; "
                         "use 'at TIME' for a lasting change")
    if action == "profile":
        if len(args) != 1:
            raise _LineError(f"expected 'profile NAME' (known: {', '.join(PROFILES)})")
        if args[0] not in PROFILES:
            raise _LineError(f"unknown profile {args[0]!r} (known: {', '.join(PROFILES)})")
        return TimelineStep(lineno, start, end, directions, "profile", profile=args[0])
    if action == "reset":
        if args:
            raise _LineError(f"unexpected {args[0]!r} after 'reset'")
        return TimelineStep(lineno, start, end, directions, "reset")
    changes: list[tuple[str, Any]] = []
    rest = tokens[pos:]
    i = 0
    while i < len(rest):
        keyword = rest[i]
        if keyword not in _FIELDS:
            known = "latency, jitter, loss, dup, reorder, reorder-delay, bandwidth, queue, burst"
            raise _LineError(f"unknown action or field {keyword!r} (actions: outage, ramp, profile, reset; "
                             f"fields: {known})")
        new, i = _parse_value(keyword, _FIELDS[keyword][1], rest, i + 1)
        changes.extend(new)
    return TimelineStep(lineno, start, end, directions, "set", changes=tuple(changes))


_OUTAGE = {"loss": 1.0, "burst_enter": 0.0, "burst_exit": 0.0, "burst_loss": 0.0}


class Timeline:
    """Config changes over time, parsed from the small text format documented in docs/LAGSIM.md.

    The config at time ``t`` is a pure function of ``t`` and the base configs: steps that have
    started are replayed in order of start time (ties: file order) on top of the base, then any
    outage active at ``t`` forces loss to 100 % on its direction(s). So ``apply`` may be called at
    any rate, or seek backwards, and an outage ends by restoring whatever the other steps dictate.
    """

    def __init__(self, steps: list[TimelineStep] | tuple[TimelineStep, ...] = ()) -> None:
        self.steps = tuple(sorted(steps, key=lambda s: (s.start, s.lineno)))
        self._bounds = sorted({s.start for s in self.steps} | {s.end for s in self.steps})
        self._applied: dict[int, tuple] = {}

    @classmethod
    def parse(cls, text: str, source: str = "timeline") -> Timeline:
        """Parse a timeline; raises ``TimelineError`` (one line, with the line number) on the first bad line."""
        steps = []
        for lineno, raw in enumerate(text.splitlines(), 1):
            tokens = raw.split("#", 1)[0].lower().replace(",", " ").split()
            if not tokens:
                continue
            try:
                steps.append(_parse_line(tokens, lineno))
            except _LineError as e:
                raise TimelineError(source, lineno, str(e)) from None
        return cls(steps)

    @classmethod
    def load(cls, path: str) -> Timeline:
        """Read and parse a file (``OSError``/``UnicodeDecodeError`` if unreadable)."""
        with open(path, encoding="utf-8") as f:
            return cls.parse(f.read(), source=str(path))

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def end(self) -> float:
        """Time of the last change (0 for an empty timeline)."""
        return self._bounds[-1] if self._bounds else 0.0

    def config_at(self, t: float, up: LinkConfig, down: LinkConfig) -> tuple[LinkConfig, LinkConfig]:
        """The (up, down) configs at ``t`` seconds since the start, starting from base ``up``/``down``."""
        return self._config_at(t, up, down)[:2]

    def _config_at(self, t: float, up: LinkConfig, down: LinkConfig) -> tuple[LinkConfig, LinkConfig, bool]:
        base = (up, down)
        configs = [up, down]
        outage = [False, False]
        ramping = False
        for step in self.steps:
            if step.start > t:
                break
            kind = step.kind
            for d in step.directions:
                if kind == "set":
                    configs[d] = configs[d].replace(**dict(step.changes))
                elif kind == "profile":
                    configs[d] = PROFILES[step.profile]
                elif kind == "reset":
                    configs[d] = base[d]
                elif kind == "outage":
                    if t < step.end:
                        outage[d] = True
                else:  # ramp
                    frac = min(1.0, (t - step.start) / (step.end - step.start))
                    value = step.ramp_from + (step.ramp_to - step.ramp_from) * frac
                    configs[d] = configs[d].replace(**{step.field: value})
            if kind == "ramp" and t < step.end:
                ramping = True
        for d in (0, 1):
            if outage[d]:
                configs[d] = configs[d].replace(**_OUTAGE)
        return configs[0], configs[1], ramping

    def apply(self, proxy: LagProxy, t: float) -> bool:
        """Set ``proxy``'s configs to what the timeline dictates ``t`` seconds after the start.

        Starts from ``proxy.base_up``/``base_down``. Cheap when nothing changed since the last call
        (same segment between step boundaries, no ramp running), so it can be called per datagram;
        a runtime change made on the proxy between two steps lasts until the next step boundary.
        Returns True if the proxy's config changed.
        """
        key = (bisect.bisect_right(self._bounds, t), proxy.base_up, proxy.base_down)
        if self._applied.get(id(proxy)) == key:
            return False
        up, down, ramping = self._config_at(t, proxy.base_up, proxy.base_down)
        self._applied[id(proxy)] = None if ramping else key
        changed = up != proxy.up_config or down != proxy.down_config
        if changed:
            proxy.set_config(up=up if up != proxy.up_config else None,
                             down=down if down != proxy.down_config else None)
        return changed

    def describe(self) -> list[str]:
        """One human-readable line per step, in time order."""
        names = {(0,): "up ", (1,): "down ", (0, 1): ""}
        out = []
        for s in self.steps:
            where = names[s.directions]
            if s.kind == "outage":
                out.append(f"{s.start:g}s-{s.end:g}s {where}outage")
            elif s.kind == "ramp":
                out.append(f"{s.start:g}s-{s.end:g}s {where}ramp {s.field} {s.ramp_from:g} -> {s.ramp_to:g}")
            elif s.kind == "profile":
                out.append(f"{s.start:g}s {where}profile {s.profile}")
            elif s.kind == "reset":
                out.append(f"{s.start:g}s {where}reset")
            else:
                out.append(f"{s.start:g}s {where}" + " ".join(f"{k}={v:g}" if v is not None else f"{k}=off"
                                                           for k, v in s.changes))
        return out
