"""`netcode bots`: many headless state-sync players in one process over real UDP.

Options beyond a plain swarm (all keyword arguments of ``run_bots`` / ``Swarm``):

- ``through="wifi"``: an in-process lag proxy (``netcode.aio.lagproxy``) with that ``netsim`` profile
  sits in front of the server and every bot connects through it. The proxy opens one upstream
  socket per bot, so the server still sees one distinct peer per bot.
- ``mix={"idle": 1, "wander": 2, "fight": 5}`` (or ``behaviour="mixed"``): behaviours in proportion. The
  behaviours are the server's game's (its ``HasBots`` brain), learned from the WELCOME: a behaviour the
  game does not have ends the bot's session with that reason in words.
- ``churn=6``: on average 6 leave-and-rejoin events per minute across the swarm (seeded Poisson
  arrivals). A churned bot disconnects cleanly, stays away 0.5-3 s, then reconnects, half of the
  time with its reconnect token (the server gives back its slot) and otherwise as a new player.
  A disconnect the swarm asked for is *expected*; any other lost connection is *unexpected*.
"""
from __future__ import annotations

import asyncio
import json
import random
import signal
import time

import numpy as np

from ..bots import NoBots, assign_behaviours, behaviours as game_behaviours, default_mix, make_brain
from ..statesync.client import StateSyncClient
from ..statesync.events import ConnectionLost, Welcome
from .cpu import CpuShare
from .driver import DatagramDriver, local_host_for

AWAY_S = (0.5, 3.0)  # how long a churned bot stays away (below the server's 5 s rejoin grace)
TOKEN_REJOIN_FRACTION = 0.5  # churned bots that come back with their token (the others join anew)


class Bot:
    """One bot: a StateSyncClient, its driver and its brain, plus what it measured.

    A churned bot goes through several sessions (clients); counters cover all of them.
    """

    def __init__(self, index: int, server: tuple[str, int], behaviour, seed: int, decode_every: int = 1,
                 issuer=None):
        self.index = index
        self.server = server
        # secure servers: a token issuer (netcode.security.LocalIssuer, or a matchmaker's) and who we are to it;
        # a rejoin "as a new player" is a new identity too
        self.issuer = issuer
        self.proxy = None  # the swarm's LagProxy, when there is one (loss diagnostics)
        self.identity = issuer.new_client_id() if issuer is not None else None
        self.match_id: str | None = None  # the match a matchmaker put us in
        # a name, or a function (index, game) -> name: the swarm's mix, known once the server named its game
        self._choose = behaviour if callable(behaviour) else (lambda i, game, b=behaviour: b)
        self.behaviour: str | None = None if callable(behaviour) else behaviour
        self.seed = seed * 1000 + index
        self.decode_every = decode_every
        self.client = self._new_client(server)
        self.brain = None
        self.driver: DatagramDriver | None = None
        self.connected_at: float | None = None
        self.lost: str | None = None  # first unexpected loss
        self.arrivals: list[tuple[float, int]] = []  # (time, snapshots arrived so far) in this session
        self.token: int | None = None
        self.leaving = False  # we asked for this disconnect: whatever it raises is expected
        self.away_until: float | None = None  # churned: reconnect at this time
        self.sessions = 0  # sessions that got a WELCOME
        self.expected_disconnects = 0
        self.unexpected: list[str] = []  # reasons of unexpected losses
        self.loss_details: list[dict] = []  # what the client knew when each unexpected loss happened
        self._session_started = 0.0
        self.rejoins_token = 0
        self.rejoins_new = 0
        self.rejoined_slot_kept = 0  # token rejoins where the server gave back the same slot
        self._slot: int | None = None
        self._rejoin_with_token = False
        self._past = {"snapshots": 0, "decoded": 0, "bytes_in": 0, "bytes_out": 0, "inputs_sent": 0,
                      "missing_baseline": 0}
        self._last_rate = 0.0
        self._last_stats: tuple | None = None  # (rtt, jitter, loss) of the last finished session

    def _new_client(self, address, token: int | None = None) -> StateSyncClient:
        """A client for a new session, sent to ``address`` (the server, or a lag proxy in front of it)."""
        connect_token = None
        if self.issuer is not None:
            connect_token = self.issuer.token(self.server, self.identity, time.time(), name=f"bot{self.index}")
        return StateSyncClient(address, name=f"bot{self.index}", token=token, decode_every=self.decode_every,
                               connect_token=connect_token)

    @property
    def active(self) -> bool:
        """Connected and playing (not churned away, not lost)."""
        return self.away_until is None and not self.leaving and self.client.connected and self.lost is None

    def on_events(self, events: list, now: float) -> None:
        client = self.client
        for e in events:
            if isinstance(e, ConnectionLost):
                if self.leaving:
                    continue  # expected: counted when we left
                self.unexpected.append(e.reason)
                self.loss_details.append(self._loss_detail(e.reason, now))
                if self.lost is None:
                    self.lost = e.reason
            elif isinstance(e, Welcome):
                self.connected_at = now
                self.sessions += 1
                if self._rejoin_with_token and self._slot is not None and e.slot == self._slot:
                    self.rejoined_slot_kept += 1
                self.token, self._slot = e.token, e.slot
                if self.brain is None:
                    try:
                        self.behaviour = self._choose(self.index, e.game)
                        self.brain = make_brain(e.game, self.seed, self.behaviour)
                    except NoBots as err:
                        self.unexpected.append(str(err))
                        self.lost = self.lost or str(err)
                        client.disconnect()
                        return
        arrived = client.counters.arrived
        if not self.arrivals or self.arrivals[-1][1] != arrived:
            self.arrivals.append((now, arrived))
        if client.welcome is not None and not self.leaving and self.brain is not None:
            latest = client.latest
            client.next_input = self.brain.from_snapshot(client.welcome.config, latest.ids if latest else None,
                                                         latest.values if latest else None, client.welcome.slot)

    def _loss_detail(self, reason: str, now: float) -> dict:
        """The client's view of an unexpected loss: enough to tell a dead link from a refused handshake."""
        transport = self.client.transport
        conn = transport.connection
        detail = {"reason": reason, "session_s": round(now - self._session_started, 3),
                  "rejoin": ("token" if self._rejoin_with_token else "new") if self.sessions or self.rejoins_new
                  else "first", "welcomed": self.connected_at is not None,
                  "dropped": dict(getattr(transport, "dropped", {}))}
        if conn is not None:
            detail.update(silent_s=round(now - conn._last_recv, 3), rtt_ms=round(conn.stats.rtt * 1000, 1),
                          loss=round(conn.stats.loss, 4), packets_in=conn.stats.packets_in)
        if self.driver is not None and self.proxy is not None:  # what the lag proxy saw of this session
            try:
                session = self.proxy.session(self.driver.address)
            except Exception:  # a closed socket: no address to ask about
                session = None
            if session is not None:
                detail["proxy"] = {"up": session.up.stats(), "down": session.down.stats(),
                                   "idle_s": round(now - session.last_seen, 3)}
        return detail

    def _session_rate(self) -> float:
        window = [(t, n) for t, n in self.arrivals if t >= (self.connected_at or 0) + 1.0]
        return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 2 else 0.0

    def _fold_session(self) -> None:
        """Add the current client's counters to the totals (before it is replaced)."""
        c, conn = self.client.counters, self.client.transport.connection
        past = self._past
        past["snapshots"] += c.arrived
        past["decoded"] += c.snapshots
        past["inputs_sent"] += c.inputs_sent
        past["missing_baseline"] += c.missing_baseline
        if conn is not None:
            past["bytes_in"] += conn.stats.bytes_in
            past["bytes_out"] += conn.stats.bytes_out
            self._last_stats = (conn.stats.rtt, conn.stats.jitter, conn.stats.loss)
        rate = self._session_rate()
        if rate > 0:
            self._last_rate = rate

    async def leave(self, now: float, away: float) -> None:
        """Churn: disconnect cleanly now, come back after ``away`` seconds."""
        self.leaving = True
        self.expected_disconnects += 1
        self.client.disconnect()
        if self.driver is not None:
            await self.driver.close()  # flushes the DISCONNECT first
        self._fold_session()
        self.away_until = now + away

    async def rejoin(self, now: float, with_token: bool, address: tuple[str, int]) -> None:
        """Come back from churn: a new connection, with our reconnect token or as a new player."""
        self._rejoin_with_token = with_token and self.token is not None
        if self._rejoin_with_token:
            self.rejoins_token += 1
        else:
            self.rejoins_new += 1
        if not self._rejoin_with_token and self.issuer is not None:
            self.identity = self.issuer.new_client_id()
        self.client = self._new_client(address, self.token if self._rejoin_with_token else None)
        self.connected_at = None
        self.arrivals = []
        self.away_until = None
        self.leaving = False
        self.driver = await DatagramDriver.bind(self.client, local_host_for(address[0]), handler=self.on_events)
        self._session_started = now
        self.client.connect(now)
        self.driver.start()

    def report(self, end: float) -> dict:
        conn = self.client.transport.connection
        st = conn.stats if conn is not None and self.away_until is None else None
        rtt, jitter, loss = ((st.rtt, st.jitter, st.loss) if st is not None else self._last_stats or (None, None, None))
        c = self.client.counters if self.away_until is None else None
        past = self._past
        rate = self._session_rate() if self.away_until is None else 0.0
        return {"bot": self.index, "behaviour": self.behaviour, "match_id": self.match_id,
                "connected": self.lost is None and (self.client.connected or self.away_until is not None
                                                    or self.sessions > 0),
                "lost": self.lost, "rtt_ms": rtt * 1000 if rtt is not None else None,
                "jitter_ms": jitter * 1000 if jitter is not None else None, "loss": loss,
                "snapshots": past["snapshots"] + (c.arrived if c else 0),
                "decoded": past["decoded"] + (c.snapshots if c else 0),
                "snapshot_rate_hz": rate or self._last_rate,
                "bytes_in": past["bytes_in"] + (st.bytes_in if st else 0),
                "bytes_out": past["bytes_out"] + (st.bytes_out if st else 0),
                "inputs_sent": past["inputs_sent"] + (c.inputs_sent if c else 0),
                "missing_baseline": past["missing_baseline"] + (c.missing_baseline if c else 0),
                "sessions": self.sessions, "expected_disconnects": self.expected_disconnects,
                "unexpected_disconnects": len(self.unexpected), "unexpected_reasons": self.unexpected[:4],
                "loss_details": self.loss_details[:4],
                "rejoins_token": self.rejoins_token, "rejoins_new": self.rejoins_new,
                "rejoined_slot_kept": self.rejoined_slot_kept}


class Swarm:
    """A bot swarm, optionally through a lag proxy and with churn. ``start``, ``run``, ``finish``."""

    def __init__(self, server: tuple[str, int], count: int, behaviour: str | None = None, seed: int = 1,
                 decode_every: int = 1, through: str | None = None, mix: dict[str, int] | None = None,
                 churn: float = 0.0, proxy_seed: int | None = None, issuer=None, matchmaker: str | None = None,
                 game: str | None = None):
        self.matchmaker = matchmaker  # a matchmaker's URL: each bot asks it for a match (then server is unused)
        self.game = game
        self.server = server
        self.count = count
        self.seed = seed
        self.mix = mix
        self.behaviour = behaviour  # None: the game's most active one; "mixed": the game's default mix
        self._assigned: list[str] | None = None
        self.through = through
        self.churn = float(churn)
        self.proxy_seed = seed if proxy_seed is None else proxy_seed
        self.bots = [Bot(i, server, self.behaviour_of, seed, decode_every, issuer) for i in range(count)]
        self.proxy_server = None
        self.address = server  # where bots connect: the server, or the proxy in front of it
        self.errors: list[str] = []  # exceptions inside the swarm (churn, rejoin)
        self.loop_lags: list[float] = []  # seconds each 0.1 s wake-up came late: is this process keeping up?
        self._cpu = CpuShare()  # for cpu_pct: the share of a core the swarm used
        self._rng = random.Random(seed * 7919 + 17)
        self._next_churn: float | None = None
        self.started = 0.0

    def behaviour_of(self, index: int, game) -> str:
        """Bot ``index``'s behaviour in the server's ``game`` (the mix is dealt out once, at the first WELCOME)."""
        if self._assigned is None:
            known = game_behaviours(game)
            if not known:
                raise NoBots(f"{game.name} has no bot brain")
            mix = self.mix
            if mix is None and self.behaviour == "mixed":
                mix = default_mix(game)
            if mix:
                unknown = [b for b in mix if b not in known]
                if unknown:
                    raise NoBots(f"{game.name} bots know {', '.join(known)}, not {unknown[0]!r}")
                self._assigned = assign_behaviours(self.count, mix, self.seed)
            else:
                self._assigned = [self.behaviour or known[-1]] * self.count
        return self._assigned[index]

    async def _from_matchmaker(self) -> None:
        """Every bot asks the matchmaker for a match (a ticket each, 50 at a time) and gets its address and token."""
        from .matchmaker import MatchmakerClient

        mm = MatchmakerClient(self.matchmaker)
        try:
            for i in range(0, self.count, 50):
                batch = self.bots[i:i + 50]
                got = await asyncio.gather(*(mm.request_match(game=self.game, name=f"bot{b.index}") for b in batch))
                for b, a in zip(batch, got):
                    host, _, port = a["address"].rpartition(":")
                    b.server = (host, int(port))
                    b.match_id = a["match_id"]
                    b.issuer = _AssignedToken(a["token"])
                    b.identity = a["client_id"]
                    b.client = b._new_client(b.server)
        finally:
            await mm.close()

    async def start(self) -> None:
        self._cpu.mark()
        if self.matchmaker:
            await self._from_matchmaker()
            self.address = None
        if self.through:
            from ..netsim.proxy import LagProxy, profile
            from .lagproxy import LagProxyServer
            proxy = LagProxy(self.server, up=profile(self.through), seed=self.proxy_seed,
                             max_clients=max(1024, 8 * self.count))
            self.proxy_server = LagProxyServer(proxy, self.server)
            self.address = await self.proxy_server.start("127.0.0.1", 0)
            for b in self.bots:
                b.proxy = proxy
        now = time.monotonic()
        for b in self.bots:
            if self.address is not None and self.address != self.server:
                b.client = b._new_client(self.address)
            b.driver = await DatagramDriver.bind(b.client, local_host_for(b.server[0] if self.address is None
                                                                          else self.address[0]),
                                                 handler=b.on_events)
            b._session_started = now
            b.client.connect(now)
            b.driver.start()
        self.started = time.monotonic()
        if self.churn > 0:
            self._next_churn = self.started + self._rng.expovariate(self.churn / 60.0)

    async def step(self, now: float, churn_until: float) -> None:
        """Churn due bots and bring back those whose time away is over."""
        try:
            for b in self.bots:
                if b.away_until is not None and now >= b.away_until and b.lost is None:
                    await b.rejoin(now, self._rng.random() < TOKEN_REJOIN_FRACTION, self.address)
            while self._next_churn is not None and now >= self._next_churn:
                self._next_churn += self._rng.expovariate(self.churn / 60.0)
                if now >= churn_until:
                    continue
                candidates = [b for b in self.bots if b.active]
                if candidates:
                    await self._rng.choice(candidates).leave(now, self._rng.uniform(*AWAY_S))
        except Exception as e:  # a bug here must fail the run, not hang it
            self.errors.append(f"{type(e).__name__}: {e}")

    async def run(self, duration: float, quiet: bool = True, stop: asyncio.Event | None = None,
                  print_every: float = 2.0) -> float:
        """Play for ``duration`` seconds (0: until ``stop`` is set or we are cancelled); returns the time played."""
        start = time.monotonic()
        next_print = start + print_every
        forever = duration <= 0
        # no new churn in the last 3 s: a bot then has time to come back before the end
        churn_until = float("inf") if forever else start + max(0.0, duration - 3.0)
        while (forever or time.monotonic() - start < duration) and not (stop is not None and stop.is_set()):
            before = time.monotonic()
            await asyncio.sleep(0.1)
            now = time.monotonic()
            self.loop_lags.append(max(0.0, now - before - 0.1))  # how late this process's loop wakes
            await self.step(now, churn_until)
            if not quiet and now >= next_print:
                next_print += print_every
                up = sum(1 for b in self.bots if b.client.connected and b.away_until is None)
                away = sum(1 for b in self.bots if b.away_until is not None)
                lost = sum(1 for b in self.bots if b.lost is not None)
                extra = f", {away} away (churn)" if self.churn else ""
                extra += f", {lost} lost" if lost else ""
                print(f"bots: {up}/{self.count} connected{extra}", flush=True)
        return time.monotonic() - start

    def counts(self) -> dict:
        """Disconnect and reconnect counters so far."""
        bots = self.bots
        return {"expected_disconnects": sum(b.expected_disconnects for b in bots),
                "unexpected_disconnects": sum(len(b.unexpected) for b in bots),
                "bots_lost": sum(1 for b in bots if b.lost is not None),
                "reconnects": sum(b.rejoins_token + b.rejoins_new for b in bots),
                "reconnects_token": sum(b.rejoins_token for b in bots),
                "reconnects_new": sum(b.rejoins_new for b in bots),
                "rejoined_slot_kept": sum(b.rejoined_slot_kept for b in bots),
                "swarm_errors": len(self.errors)}

    async def finish(self, duration: float) -> dict:
        """Report, disconnect everyone, close the proxy; returns the summary."""
        end = time.monotonic()
        reports = [b.report(end) for b in self.bots]
        counts = self.counts()
        for b in self.bots:
            if b.away_until is None and b.driver is not None:
                b.leaving = True  # the end of the run is not a lost connection
                b.client.disconnect()
                await b.driver.close()
        proxy = None
        if self.proxy_server is not None:
            await self.proxy_server.close()
            st = self.proxy_server.proxy.stats()
            proxy = {"profile": self.through, "sessions": st["sessions"], "clients": st["clients"],
                     "up_forwarded": st["up"]["forwarded"], "up_dropped": st["up"]["dropped"],
                     "down_forwarded": st["down"]["forwarded"], "down_dropped": st["down"]["dropped"],
                     "upstream_errors": self.proxy_server.upstream_errors,
                     "send_errors": self.proxy_server.send_errors}
        connected = sum(1 for r in reports if r["connected"])
        rates = [r["snapshot_rate_hz"] for r in reports if r["connected"] and r["snapshot_rate_hz"] > 0]
        rtts = [r["rtt_ms"] for r in reports if r["rtt_ms"] is not None]
        behaviours: dict[str | None, int] = {}
        for b in self.bots:
            behaviours[b.behaviour] = behaviours.get(b.behaviour, 0) + 1
        return {"bots": self.count, "connected_throughout": connected, "duration_s": duration,
                "snapshot_rate_hz_median": float(np.median(rates)) if rates else 0.0,
                "snapshot_rate_hz_min": float(np.min(rates)) if rates else 0.0,
                "rtt_ms_median": float(np.median(rtts)) if rtts else None,
                "kbit_in_per_bot": float(np.mean([r["bytes_in"] for r in reports])) * 8 / 1000 / max(duration, 1e-9),
                "loop_lag_ms_p99": float(np.percentile(self.loop_lags, 99)) * 1000 if self.loop_lags else 0.0,
                "loop_lag_ms_max": max(self.loop_lags) * 1000 if self.loop_lags else 0.0,
                # this process's CPU (user + system) from start() to now, in % of one core: near 100, the bots are
                # what limits the run (they read and ack late, and an adaptive server sends them less)
                "cpu_pct": self._cpu.pct(end),
                "through": self.through, "churn_per_min": self.churn, "behaviours": behaviours,
                **counts, "errors": list(self.errors), "proxy": proxy, "per_bot": reports}


def print_summary(summary: dict) -> None:
    count = summary["bots"]
    print(f"bots: {summary['connected_throughout']}/{count} connected at the end; snapshot rate median "
          f"{summary['snapshot_rate_hz_median']:.1f} Hz (min {summary['snapshot_rate_hz_min']:.1f}); "
          f"RTT median {summary['rtt_ms_median'] or 0:.2f} ms; {summary['kbit_in_per_bot']:.1f} kbit/s in per bot")
    if summary.get("through") or summary.get("churn_per_min") or summary.get("unexpected_disconnects"):
        via = f" through {summary['through']}" if summary.get("through") else ""
        print(f"bots{via}: disconnects {summary['expected_disconnects']} expected (churn), "
              f"{summary['unexpected_disconnects']} unexpected; reconnects {summary['reconnects']} "
              f"({summary['reconnects_token']} with token, {summary['reconnects_new']} as new players)")
    if summary.get("loop_lag_ms_p99", 0) > 100:
        print(f"bots: warning: this process's event loop ran {summary['loop_lag_ms_p99']:.0f} ms late (p99): it cannot "
              f"keep up with {count} bots{' and the proxy' if summary.get('through') else ''}, so RTTs are inflated "
              f"(fewer bots, or a higher --decode-every)")
    for e in summary.get("errors", [])[:4]:
        print(f"bots: error: {e}")
    reports = summary["per_bot"]
    for r in reports[:8]:
        lost = f"  LOST: {r['lost']}" if r["lost"] else ""
        print(f"  bot{r['bot']} ({r['behaviour']}): rtt {r['rtt_ms'] or 0:.2f} ms  loss {100 * (r['loss'] or 0):.1f} %  "
              f"snapshots {r['snapshots']} ({r['snapshot_rate_hz']:.1f} Hz)  in {r['bytes_in']} B  "
              f"out {r['bytes_out']} B  sessions {r['sessions']}{lost}")
    if count > 8:
        print(f"  … {count - 8} more in --json")


class _AssignedToken:
    """The one token a matchmaker assigned a bot (what Bot asks its issuer for)."""

    def __init__(self, token: bytes):
        self._token = token

    def new_client_id(self) -> int:
        raise RuntimeError("a matchmaker's bot keeps the identity it was assigned")

    def token(self, server, client_id: int, now: float, **user) -> bytes:
        return self._token


def _on_signals(callback) -> list:
    """Route SIGINT/SIGTERM to ``callback`` where the loop can (the main thread); the signals handled."""
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, callback)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not supported
            pass
    return handled


def _off_signals(handled: list) -> None:
    loop = asyncio.get_running_loop()
    for sig in handled:
        loop.remove_signal_handler(sig)


class _either:
    """Set when either event is (``is_set`` is all Swarm.run asks of its stop)."""

    def __init__(self, a: asyncio.Event | None, b: asyncio.Event):
        self.a, self.b = a, b

    def is_set(self) -> bool:
        return self.b.is_set() or (self.a is not None and self.a.is_set())


async def run_bots(server: tuple[str, int], count: int, duration: float, behaviour: str | None = None,
                   seed: int = 1, json_path: str | None = None, quiet: bool = False, decode_every: int = 1,
                   *, through: str | None = None, mix: dict[str, int] | None = None, churn: float = 0.0,
                   stop: asyncio.Event | None = None, issuer=None, matchmaker: str | None = None,
                   game: str | None = None) -> dict:
    """Run ``count`` bots for ``duration`` seconds; returns (and optionally writes) the summary.

    ``through``: a netsim profile name for an in-process lag proxy in front of ``server``;
    ``mix``: behaviour weights (``behaviour="mixed"``: the game's default mix, netcode.bots.default_mix);
    ``churn``: leave-and-rejoin events per minute across the swarm; ``stop``: end early when set;
    ``issuer``: mints each bot's connect tokens for a secure server.
    """
    swarm = Swarm(server, count, behaviour, seed, decode_every, through=through, mix=mix, churn=churn, issuer=issuer,
                  matchmaker=matchmaker, game=game)
    started = time.monotonic()
    interrupted = False
    # Ctrl-C (or SIGTERM) sets an event rather than cancelling the task: a cancellation that lands while a
    # socket is being bound can be lost, and the run then never ends (seen under load)
    signalled = asyncio.Event()
    handled = _on_signals(signalled.set)
    try:
        await swarm.start()
        await swarm.run(duration, quiet=quiet, stop=_either(stop, signalled))
    except asyncio.CancelledError:  # cancelled by the caller: the measurements so far are still the point
        interrupted = True
    finally:
        _off_signals(handled)
    interrupted = interrupted or signalled.is_set()
    played = time.monotonic() - started
    summary = await swarm.finish(played)
    summary["duration_s"] = played
    summary["interrupted"] = interrupted
    if not quiet:
        print_summary(summary)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(summary, f, indent=2)
    return summary
