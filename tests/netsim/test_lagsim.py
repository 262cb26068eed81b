"""Lag proxy: sans-IO core and timelines in virtual time, then the asyncio driver over loopback UDP."""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest

from netcode.aio.driver import run
from netcode.aio.lagproxy import LagProxyServer, run_lagsim
from netcode.netsim.proxy import DOWN, UP, LagProxy, Timeline, TimelineError
from netcode.cli.lagsim import add_parser as add_lagsim_parser, configs_from_args, main
from netcode.netsim.link import PROFILES, LinkConfig, derive_link_seed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER = ("10.0.0.1", 40000)
A = ("192.168.1.2", 5000)
B = ("192.168.1.3", 5000)
LOSSY = LinkConfig(latency=0.05, jitter=0.01, loss=0.1, duplicate=0.05, reorder=0.05, reorder_delay=0.02)


def drive(proxy, sends, until=math.inf, timeline=None):
    """Feed ``sends`` [(time, 'client'|'upstream', client, data)] in time order; return every due item (timed)."""
    out = []
    for t, source, client, data in sorted(sends, key=lambda s: s[0]):
        out.extend(proxy.due_timed(t))
        if timeline is not None:
            timeline.apply(proxy, t)
        if source == "client":
            proxy.from_client(data, client, t)
        else:
            proxy.from_upstream(data, client, t)
    out.extend(proxy.due_timed(until))
    return out


def stream(client, count, spacing=0.01, start=0.0, source="client", tag=None):
    tag = tag if tag is not None else f"{client[0]}:{client[1]}"
    return [(start + i * spacing, source, client, f"{tag}/{source}/{i}".encode()) for i in range(count)]


# --- core: sessions, separation, determinism ------------------------------------------------------


def test_each_client_gets_its_own_seeded_links():
    proxy = LagProxy(SERVER, LOSSY, seed=42)
    proxy.from_client(b"a", A, 0.0)
    proxy.from_client(b"b", B, 0.0)
    a, b = proxy.session(A), proxy.session(B)
    assert a.up is not b.up and a.down is not b.down
    assert a.up.seed == derive_link_seed(42, A, SERVER) and a.down.seed == derive_link_seed(42, SERVER, A)
    assert b.up.seed == derive_link_seed(42, B, SERVER)
    assert len({a.up.seed, a.down.seed, b.up.seed, b.down.seed}) == 4
    assert proxy.clients == 2 and proxy.stats()["sessions"] == 2


def test_two_clients_streams_never_mix():
    proxy = LagProxy(SERVER, LOSSY, seed=1)
    sends = stream(A, 500) + stream(B, 500, start=0.003) + stream(A, 500, source="upstream", start=0.001)
    sends += stream(B, 500, source="upstream", start=0.002)
    items = drive(proxy, sends)
    assert items and [t for t, *_ in items] == sorted(t for t, *_ in items)
    for _, direction, client, data in items:
        tag, source, _ = data.decode().split("/")
        assert tag == f"{client[0]}:{client[1]}"  # a client's data only ever goes to/for that client
        assert source == ("client" if direction == UP else "upstream")
    for client in (A, B):
        for direction in (UP, DOWN):
            got = [d for _, dr, c, d in items if c == client and dr == direction]
            assert 350 < len(got) < 550  # ~10 % lost, ~5 % duplicated


def test_a_clients_fate_does_not_depend_on_other_clients():
    alone = drive(LagProxy(SERVER, LOSSY, seed=9), stream(A, 400))
    crowded = drive(LagProxy(SERVER, LOSSY, seed=9), stream(B, 400, start=0.0005) + stream(A, 400)
                    + stream(("10.1.1.1", 9), 300, start=0.0002))
    assert [(t, d) for t, _, c, d in crowded if c == A] == [(t, d) for t, _, c, d in alone]


def test_same_seed_same_deliveries_other_seed_different():
    sends = stream(A, 300) + stream(A, 300, source="upstream", start=0.005) + stream(B, 300, start=0.002)
    first = drive(LagProxy(SERVER, LOSSY, seed=5), sends)
    again = drive(LagProxy(SERVER, LOSSY, seed=5), sends)
    other = drive(LagProxy(SERVER, LOSSY, seed=6), sends)
    assert first == again
    assert first != other


def test_due_is_incremental_and_next_time_is_exact():
    proxy = LagProxy(SERVER, LinkConfig(latency=0.1, jitter=0.02), seed=3)
    for i in range(50):
        proxy.from_client(bytes([i]), A, i * 0.01)
    got = []
    while (t := proxy.next_time()) is not None and t < 10:
        assert not proxy.due_timed(t - 1e-9)  # nothing is due before next_time()
        batch = proxy.due_timed(t)
        assert batch and batch[0][0] == t
        got.extend(batch)
    assert sorted(d for *_, d in got) == [bytes([i]) for i in range(50)]
    assert proxy.next_time() == pytest.approx(0.49 + 30.0)  # only the idle expiry is left


def test_stats_count_forwarded_dropped_duplicated_and_delay():
    proxy = LagProxy(SERVER, LinkConfig(latency=0.05, loss=0.2, duplicate=0.1), down=LinkConfig(latency=0.01), seed=7)
    items = drive(proxy, stream(A, 2000, spacing=0.001) + stream(A, 100, source="upstream"))
    stats = proxy.stats()
    up, down = stats[UP], stats[DOWN]
    assert up["received"] == 2000
    assert up["forwarded"] == sum(1 for _, d, *_ in items if d == UP)
    assert up["forwarded"] == up["received"] - up["dropped"] + up["duplicated"]
    assert 0.17 < up["dropped"] / 2000 < 0.23 and up["duplicated"] > 100
    assert up["mean_delay"] == pytest.approx(0.05) and down["mean_delay"] == pytest.approx(0.01)
    assert down["forwarded"] == 100 and down["dropped"] == 0
    assert up["latency"] == 0.05 and up["loss"] == 0.2


def test_idle_sessions_expire_and_counters_survive():
    proxy = LagProxy(SERVER, LinkConfig(latency=0.01), seed=1, idle_timeout=5.0)
    proxy.from_client(b"x", A, 0.0)
    assert proxy.due(1.0) == [(UP, A, b"x")]
    proxy.from_upstream(b"reply", A, 1.0)  # traffic in either direction keeps a session alive
    assert proxy.next_time() == pytest.approx(1.01)
    assert proxy.due(2.0) == [(DOWN, A, b"reply")]
    proxy.from_client(b"y", B, 3.0)
    assert proxy.next_time() == pytest.approx(3.01)
    proxy.due(3.5)
    assert proxy.next_time() == pytest.approx(6.0)  # A's idle deadline
    assert proxy.expire(5.99) == []
    assert proxy.expire(6.0) == [A]
    assert proxy.session(A) is None and proxy.clients == 1
    assert proxy.from_upstream(b"late", A, 6.5) is False and proxy.stats()["orphans"] == 1
    assert proxy.expire(8.0) == [B]
    stats = proxy.stats()
    assert stats["expired"] == 2 and stats[UP]["forwarded"] == 2 and stats[DOWN]["forwarded"] == 1
    proxy.from_client(b"again", A, 9.0)  # a returning client starts a fresh session with the same seeds
    assert proxy.session(A).up.seed == derive_link_seed(proxy.seed, A, SERVER) and stats["sessions"] == 2


def test_runtime_config_changes_apply_to_existing_and_new_sessions():
    proxy = LagProxy(SERVER, PROFILES["lan"], seed=1)
    proxy.from_client(b"x", A, 0.0)
    proxy.set_profile("3g")
    assert proxy.session(A).up.config == PROFILES["3g"] == proxy.session(A).down.config
    proxy.update("down", latency=0.3)
    assert proxy.session(A).down.config.latency == 0.3 and proxy.session(A).up.config.latency == 0.15
    proxy.from_client(b"y", B, 0.0)
    assert proxy.session(B).down.config.latency == 0.3
    proxy.set_profile("wifi", "up")
    assert proxy.up_config == PROFILES["wifi"] and proxy.session(B).up.config == PROFILES["wifi"]
    proxy.reset()
    assert proxy.up_config == proxy.down_config == PROFILES["lan"]
    with pytest.raises(ValueError, match="known: perfect, lan"):
        proxy.set_profile("5g")
    with pytest.raises(ValueError, match="direction"):
        proxy.update("sideways", loss=0.1)


def test_max_clients_rejects_new_clients_only():
    proxy = LagProxy(SERVER, seed=1, max_clients=1)
    assert proxy.from_client(b"a", A, 0.0) is not None
    assert proxy.from_client(b"b", B, 0.0) is None
    assert proxy.from_client(b"a2", A, 0.0) is not None
    assert proxy.stats()["rejected"] == 1 and proxy.due(0.0) == [(UP, A, b"a"), (UP, A, b"a2")]


# --- timelines ----------------------------------------------------------------------------------

GOOD = """\
# a comment, then a blank line

at 0s latency 50ms jitter 5ms      # several fields on one line
at 5s profile 3g
at 7.5s up loss 10%
at 8s down dup 2% reorder 1% reorder-delay 30ms
at 9s bandwidth 512kbps queue 65536
at 9.5s burst 1% 25% 90%
at 10s outage 3s
from 20s to 40s ramp latency 50ms 300ms
from 41s to 42s down outage
from 42s to 43s ramp loss 0% to 5%
at 50s reset
at 1min bandwidth off
"""


def test_parse_valid_timeline():
    tl = Timeline.parse(GOOD)
    assert len(tl) == 12 and tl.end == 60.0
    kinds = [(s.lineno, s.kind, s.start, s.end, s.directions) for s in tl.steps]
    assert kinds == [
        (3, "set", 0.0, 0.0, (0, 1)), (4, "profile", 5.0, 5.0, (0, 1)), (5, "set", 7.5, 7.5, (0,)),
        (6, "set", 8.0, 8.0, (1,)), (7, "set", 9.0, 9.0, (0, 1)), (8, "set", 9.5, 9.5, (0, 1)),
        (9, "outage", 10.0, 13.0, (0, 1)), (10, "ramp", 20.0, 40.0, (0, 1)), (11, "outage", 41.0, 42.0, (1,)),
        (12, "ramp", 42.0, 43.0, (0, 1)), (13, "reset", 50.0, 50.0, (0, 1)), (14, "set", 60.0, 60.0, (0, 1)),
    ]
    steps = tl.steps
    assert dict(steps[0].changes) == {"latency": 0.05, "jitter": 0.005}
    assert steps[1].profile == "3g"
    assert dict(steps[3].changes) == {"duplicate": 0.02, "reorder": 0.01, "reorder_delay": 0.03}
    assert dict(steps[4].changes) == {"bandwidth_bps": 512000.0, "queue_limit_bytes": 65536}
    assert dict(steps[5].changes) == {"burst_enter": 0.01, "burst_exit": 0.25, "burst_loss": 0.9}
    assert (steps[7].field, steps[7].ramp_from, steps[7].ramp_to) == ("latency", 0.05, 0.3)
    assert (steps[9].field, steps[9].ramp_from, steps[9].ramp_to) == ("loss", 0.0, 0.05)
    assert dict(steps[11].changes) == {"bandwidth_bps": None}
    base = PROFILES["perfect"]
    up, down = tl.config_at(8.5, base, base)
    assert up == PROFILES["3g"].replace(loss=0.1) and down == PROFILES["3g"].replace(duplicate=0.02, reorder=0.01,
                                                                                        reorder_delay=0.03)
    assert tl.config_at(55, base, PROFILES["lan"]) == (base, PROFILES["lan"])
    assert Timeline.parse("").config_at(3.0, base, base) == (base, base)
    assert len(tl.describe()) == 12


@pytest.mark.parametrize("line, message", [
    ("at 10 outage 3s", "'10' needs a unit"),
    ("at -1s loss 5%", "must not be negative"),
    ("at 1s loss 5", "percentage like 10%"),
    ("at 1s loss 150%", "at most 100%"),
    ("at 1s latency fast", "duration like 250ms"),
    ("at 1s lag 50ms", "unknown action or field 'lag'"),
    ("at 1s profile 5g", "unknown profile '5g' (known: perfect, lan, wifi, 4g, 3g, bad, burst-loss)"),
    ("at 1s profile", "expected 'profile NAME'"),
    ("at 1s outage", "expected 'at TIME outage DURATION'"),
    ("at 1s outage 0s", "outage duration must be > 0"),
    ("at 1s", "expected 'at TIME"),
    ("at 1s up", "missing action"),
    ("at 1s latency", "latency needs a value"),
    ("at 1s bandwidth 0kbps", "rate > 0"),
    ("at 1s queue -5", "whole number of bytes"),
    ("at 1s burst 1% 0% 50%", "EXIT must be > 0%"),
    ("at 1s burst 1% 25%", "takes ENTER% EXIT% LOSS%"),
    ("at 1s ramp latency 1ms 2ms", "a ramp needs a window"),
    ("at 1s reset now", "unexpected 'now'"),
    ("from 5s to 2s outage", "must be after start time"),
    ("from 5s until 8s outage", "expected 'from TIME to TIME"),
    ("from 1s to 2s latency 50ms", "takes 'outage' or 'ramp"),
    ("from 1s to 2s ramp latency 50ms", "expected 'ramp FIELD FROM TO'"),
    ("from 1s to 2s ramp queue 1 2", "queue cannot be ramped"),
    ("from 1s to 2s ramp lag 1ms 2ms", "unknown field 'lag'"),
    ("from 1s to 2s outage 3s", "unexpected '3s' after 'outage'"),
    ("every 1s outage 1s", "a line starts with 'at' or 'from'"),
])
def test_malformed_line_names_its_line(line, message):
    text = "# header\nat 0s latency 10ms\n\n" + line + "\nat 99s loss 1%\n"
    with pytest.raises(TimelineError) as info:
        Timeline.parse(text, source="net.tl")
    error = info.value
    assert error.lineno == 4 and "\n" not in str(error)
    assert str(error).startswith("net.tl line 4: ") and message in str(error), str(error)


def send_every(proxy, timeline, start, stop, spacing, client=A):
    """Virtual-time client: one packet every ``spacing`` s, timeline applied before each; returns {index: send time}."""
    sent, t, i = {}, start, 0
    while t < stop - 1e-12:
        timeline.apply(proxy, t)
        proxy.from_client(i.to_bytes(4, "little"), client, t)
        sent[i] = t
        i += 1
        t = start + i * spacing
    delivered = {int.from_bytes(d, "little"): when for when, _, _, d in proxy.due_timed(math.inf)}
    return sent, delivered


def test_outage_drops_exactly_its_window_in_virtual_time():
    proxy = LagProxy(SERVER, LinkConfig(latency=0.05), seed=1)
    timeline = Timeline.parse("at 10s outage 3s")
    sent, delivered = send_every(proxy, timeline, 0.0, 20.0, 0.01)
    lost = {i for i in sent if i not in delivered}
    assert lost == {i for i, t in sent.items() if 10.0 <= t < 13.0} and len(lost) == 300
    assert proxy.up_config == LinkConfig(latency=0.05)  # restored


def test_outage_beats_burst_loss_and_can_hit_one_direction():
    proxy = LagProxy(SERVER, PROFILES["burst-loss"], seed=2)
    timeline = Timeline.parse("at 1s up outage 1s")
    timeline.apply(proxy, 1.5)
    assert proxy.down_config == PROFILES["burst-loss"]
    for i in range(5000):  # a bad-state burst must not let packets through an outage
        proxy.from_client(b"x", A, 1.5)
        proxy.from_upstream(b"y", A, 1.5)
    stats = proxy.stats()
    assert stats[UP]["forwarded"] + stats[UP]["in_flight"] == 0
    assert stats[DOWN]["received"] - stats[DOWN]["dropped"] > 4000
    timeline.apply(proxy, 2.0)
    assert proxy.up_config == PROFILES["burst-loss"]


def test_outage_restores_whatever_changed_meanwhile():
    tl = Timeline.parse("at 0s loss 2%\nat 10s outage 3s\nat 11s latency 200ms\nat 12s profile bad\nat 12s loss 1%")
    base = LinkConfig(latency=0.05)
    assert tl.config_at(9.9, base, base)[0] == base.replace(loss=0.02)
    assert tl.config_at(11.5, base, base)[0].loss == 1.0
    assert tl.config_at(13.0, base, base)[0] == PROFILES["bad"].replace(loss=0.01)
    assert tl.config_at(11.5, base, base)[0].latency == 0.2  # changes during an outage take effect underneath
    assert tl.config_at(12.5, base, base)[0] == PROFILES["bad"].replace(loss=1.0)


def test_ramp_interpolates_latency_per_packet():
    proxy = LagProxy(SERVER, LinkConfig(latency=0.01), seed=1)
    timeline = Timeline.parse("at 0s latency 50ms\nfrom 20s to 40s ramp latency 50ms 300ms")
    sent, delivered = send_every(proxy, timeline, 0.0, 50.0, 0.1)
    assert len(delivered) == len(sent) == 500
    for i, t in sent.items():
        expected = 0.05 + 0.25 * min(max((t - 20.0) / 20.0, 0.0), 1.0)
        assert delivered[i] - t == pytest.approx(expected, abs=1e-9)
    assert proxy.up_config.latency == pytest.approx(0.3)


def test_apply_is_cached_between_steps_and_seeks_back():
    proxy = LagProxy(SERVER, PROFILES["wifi"], seed=1)
    tl = Timeline.parse("at 5s latency 100ms\nat 10s outage 2s")
    assert tl.apply(proxy, 0.0) is False
    assert tl.apply(proxy, 5.0) is True and proxy.up_config.latency == 0.1
    proxy.update(jitter=0.05)  # a runtime change lasts until the next step boundary
    assert tl.apply(proxy, 7.0) is False and proxy.up_config.jitter == 0.05
    assert tl.apply(proxy, 10.0) is True and proxy.up_config.loss == 1.0 and proxy.up_config.jitter == 0.004
    assert tl.apply(proxy, 12.0) is True and proxy.up_config == PROFILES["wifi"].replace(latency=0.1)
    assert tl.apply(proxy, 1.0) is True and proxy.up_config == PROFILES["wifi"]  # seeking back


# --- the driver over real loopback UDP ----------------------------------------------------------


class Echo(asyncio.DatagramProtocol):
    """Echo server that records, per datagram, (arrival time.monotonic(), source address, data)."""

    def __init__(self):
        self.seen = []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.seen.append((time.monotonic(), addr, data))
        self.transport.sendto(data, addr)


class Client(asyncio.DatagramProtocol):
    def __init__(self):
        self.received = []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received.append((time.monotonic(), data))


async def start_echo():
    loop = asyncio.get_running_loop()
    transport, echo = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    return transport, echo, transport.get_extra_info("sockname")[:2]


async def start_client(proxy_addr):
    loop = asyncio.get_running_loop()
    transport, client = await loop.create_datagram_endpoint(Client, remote_addr=proxy_addr)
    return transport, client


async def paced_send(transport, count, spacing, make, sent_times):
    """Send ``count`` datagrams at a steady pace; ``sent_times[i]`` = time.monotonic() when datagram i left."""
    start = time.monotonic()
    i = 0
    while i < count:
        now = time.monotonic()
        while i < count and start + i * spacing <= now:
            sent_times[i] = time.monotonic()
            transport.sendto(make(i))
            i += 1
        if i < count:
            await asyncio.sleep(max(0.0, start + i * spacing - time.monotonic()))


LOOPBACK_FIGURES = {}


def test_loopback_loss_and_latency_within_statistical_bounds():
    count, spacing = 2000, 0.001
    latency, jitter, loss = 0.100, 0.010, 0.10

    async def scenario():
        echo_transport, echo, upstream = await start_echo()
        proxy = LagProxy(upstream, LinkConfig(latency=latency, jitter=jitter, loss=loss), down=PROFILES["perfect"],
                         seed=2024)
        server = LagProxyServer(proxy, upstream)
        addr = await server.start()
        transport, client = await start_client(addr)
        sent = {}
        await paced_send(transport, count, spacing, lambda i: i.to_bytes(4, "little"), sent)
        await asyncio.sleep(latency + jitter + 0.1)
        transport.close()
        await server.close()
        echo_transport.close()
        return proxy, server, echo, client, sent

    proxy, server, echo, client, sent = run(scenario())
    arrived = {int.from_bytes(d, "little"): t for t, _, d in echo.seen}
    one_way = [t - sent[i] for i, t in arrived.items()]
    measured_loss = 1 - len(arrived) / count
    mean = statistics.fmean(one_way)
    stats = proxy.stats()
    LOOPBACK_FIGURES.update(loss=measured_loss, mean_ms=mean * 1000, min_ms=min(one_way) * 1000,
                            max_ms=max(one_way) * 1000, sd_ms=statistics.pstdev(one_way) * 1000,
                            sim_mean_ms=stats[UP]["mean_delay"] * 1000,
                            late_avg_ms=server.lateness_sum / server.sent * 1000,
                            late_max_ms=server.lateness_max * 1000)
    print("\nloopback figures:", {k: round(v, 4) for k, v in LOOPBACK_FIGURES.items()})
    # Binomial(n=2000, p=0.1): sd = sqrt(p(1-p)/n) = 0.67 %-points, so ±3 points is 4.5 sd.
    assert abs(measured_loss - loss) <= 0.03
    # What reached the echo server is exactly what the core decided to forward (no socket drops on loopback).
    assert len(arrived) == stats[UP]["forwarded"] == count - stats[UP]["dropped"]
    # The echoes come back losslessly on the perfect down link.
    assert len(client.received) == len(arrived)
    # Uniform ±10 ms jitter on packets 1 ms apart, kept in order: each waits for the one ahead of it, so the
    # simulated delay is the running maximum of the recent draws — between the latency and latency + jitter,
    # mostly near the top —; the driver only ever adds delay (timer lateness, loop hops), bounded by 15 ms.
    sim = stats[UP]["mean_delay"]
    assert latency < sim <= latency + jitter
    assert sim - 0.001 <= mean <= sim + 0.015
    assert min(one_way) >= latency - jitter  # never sent early
    assert statistics.pstdev(one_way) < 0.012
    order = [int.from_bytes(d, "little") for _, _, d in echo.seen]
    assert order == sorted(order)  # jitter alone reorders nothing


def test_loopback_many_clients_stay_separated():
    clients_n, per_client = 8, 60

    async def scenario():
        echo_transport, echo, upstream = await start_echo()
        proxy = LagProxy(upstream, LinkConfig(latency=0.01, jitter=0.005, loss=0.05), seed=8)
        server = LagProxyServer(proxy, upstream)
        addr = await server.start()
        clients = [await start_client(addr) for _ in range(clients_n)]
        for i in range(per_client):
            for k, (transport, _) in enumerate(clients):
                transport.sendto(f"{k}:{i}".encode())
            await asyncio.sleep(0.002)
        # Wait until every datagram the proxy took is delivered or dropped both ways (a fixed sleep lost the
        # last echoes when a loaded machine stalled the loop), with a bound.
        for _ in range(300):
            st = proxy.stats()
            if (st[UP]["received"] == clients_n * per_client and st[UP]["in_flight"] == 0
                    and st[DOWN]["received"] == st[UP]["forwarded"] and st[DOWN]["in_flight"] == 0
                    and sum(len(c.received) for _, c in clients) == st[DOWN]["forwarded"]):
                break
            await asyncio.sleep(0.01)
        upstream_addrs = {server.upstream_address(t.get_extra_info("sockname")) for t, _ in clients}
        for transport, _ in clients:
            transport.close()
        await server.close()
        echo_transport.close()
        return proxy, echo, clients, upstream_addrs

    proxy, echo, clients, upstream_addrs = run(scenario())
    sources = {}
    for _, src, data in echo.seen:
        sources.setdefault(data.split(b":")[0], set()).add(src)
    # The server sees one distinct address per client, each carrying that client's datagrams only.
    assert len(sources) == clients_n and all(len(s) == 1 for s in sources.values())
    assert len(set.union(*sources.values())) == clients_n
    assert upstream_addrs == set.union(*sources.values())
    for k, (_, client) in enumerate(clients):
        tags = {d.split(b":")[0] for _, d in client.received}
        assert tags == {str(k).encode()}  # only its own echoes
        assert per_client * 0.75 < len(client.received) <= per_client
    stats = proxy.stats()
    assert sum(len(c.received) for _, c in clients) == stats[DOWN]["forwarded"]  # nothing lost but by the proxy
    assert stats["sessions"] == clients_n


def test_loopback_timeline_outage_stops_traffic_for_its_window():
    outage_start, outage_end = 0.6, 1.1

    async def scenario():
        echo_transport, echo, upstream = await start_echo()
        proxy = LagProxy(upstream, LinkConfig(latency=0.02), seed=1)
        timeline = Timeline.parse(f"at {outage_start}s outage {outage_end - outage_start:g}s")
        server = LagProxyServer(proxy, upstream, timeline)
        addr = await server.start()
        transport, client = await start_client(addr)
        sent = {}
        await paced_send(transport, 750, 0.002, lambda i: i.to_bytes(4, "little"), sent)
        await asyncio.sleep(0.1)
        transport.close()
        await server.close()
        echo_transport.close()
        return server, echo, sent

    server, echo, sent = run(scenario())
    arrived = {int.from_bytes(d, "little"): t - server.started for t, _, d in echo.seen}
    rel = {i: t - server.started for i, t in sent.items()}
    before = [i for i, t in rel.items() if t < outage_start - 0.01]
    during = [i for i, t in rel.items() if outage_start <= t < outage_end - 0.02]
    after = [i for i, t in rel.items() if t >= outage_end]
    assert len(before) > 200 and len(during) > 200 and len(after) > 100
    assert all(i in arrived for i in before + after)  # nothing lost outside the window
    assert not any(i in arrived for i in during)  # everything lost inside it
    quiet = [t for t in arrived.values() if outage_start + 0.02 + 0.01 <= t < outage_end]
    assert quiet == []  # the server heard nothing during the outage (after the 20 ms already in flight)


def test_loopback_idle_session_closes_its_upstream_socket():
    async def scenario():
        echo_transport, echo, upstream = await start_echo()
        proxy = LagProxy(upstream, seed=1, idle_timeout=0.2)
        server = LagProxyServer(proxy, upstream)
        addr = await server.start()
        transport, client = await start_client(addr)
        transport.sendto(b"one")
        await asyncio.sleep(0.05)
        opened = server.open_upstreams
        await asyncio.sleep(0.3)
        closed = (server.open_upstreams, proxy.clients)
        transport.sendto(b"two")
        await asyncio.sleep(0.05)
        transport.close()
        await server.close()
        echo_transport.close()
        return proxy, echo, client, opened, closed

    proxy, echo, client, opened, closed = run(scenario())
    assert opened == 1 and closed == (0, 0)
    assert [d for _, d in client.received] == [b"one", b"two"]
    assert echo.seen[0][1] != echo.seen[1][1]  # a fresh upstream socket after expiry
    assert proxy.stats()["expired"] == 1 and proxy.stats()["sessions"] == 2


def test_run_lagsim_prints_stats_and_stops_after_duration():
    lines = []

    async def scenario():
        echo_transport, echo, upstream = await start_echo()
        proxy = LagProxy(upstream, PROFILES["wifi"], seed=4)
        ready = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run_lagsim(proxy, ("127.0.0.1", 0), upstream, stats_interval=0.2, duration=0.7,
                                              out=lines.append, on_ready=ready.set_result))
        server = await ready
        transport, client = await start_client(server.address)
        for i in range(20):
            transport.sendto(b"x")
            await asyncio.sleep(0.01)
        stats = await asyncio.wait_for(task, 5)
        transport.close()
        echo_transport.close()
        return stats

    started = time.monotonic()
    stats = run(scenario())
    assert time.monotonic() - started < 3
    assert lines[0].startswith("lagsim: listening on 127.0.0.1:") and "seed 4" in lines[0]
    periodic = [line for line in lines if line.startswith("lagsim [")]
    assert len(periodic) == 3 and all("clients" in line and "up: fwd" in line and "down: fwd" in line
                                      for line in periodic)
    assert lines[-1].startswith("lagsim: done") and stats["clients"] == 1 and stats[UP]["received"] == 20


# --- command line ----------------------------------------------------------------------------------


def one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lagsim: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize("extra, message", [
    (["--listen", "nowhere"], "--listen: expected HOST:PORT, got 'nowhere'"),
    (["--upstream", "127.0.0.1:99999"], "--upstream: port must be in 1..65535"),
    (["--upstream", "127.0.0.1:http"], "port must be a number"),
    (["--profile", "5g"], "unknown profile '5g' (known: perfect, lan, wifi, 4g, 3g, bad, burst-loss)"),
    (["--down-profile", "x"], "--down-profile: unknown profile 'x'"),
    (["--latency", "-5"], "--latency: must be >= 0"),
    (["--up-jitter", "abc"], "--up-jitter: expected milliseconds"),
    (["--loss", "120"], "--loss: must be in 0..100"),
    (["--burst-loss", "1,0,50"], "EXIT must be > 0"),
    (["--burst-loss", "1,2"], "expected ENTER,EXIT,LOSS"),
    (["--seed", "x"], "--seed: expected a whole number"),
    (["--duration", "-1"], "--duration: must be >= 0"),
    (["--idle-timeout", "0"], "--idle-timeout: must be > 0"),
    (["--timeline", "/nonexistent/t.txt"], "--timeline: cannot read '/nonexistent/t.txt': No such file"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_cli_errors_are_one_line(capsys, extra, message):
    argv = ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:40000"]
    flag = extra[0]
    if flag in ("--listen", "--upstream"):
        argv[argv.index(flag) + 1] = extra[1]
        extra = []
    err = one_line_error(capsys, argv + extra)
    assert message in err, err


def test_cli_missing_flag_and_malformed_timeline(capsys, tmp_path):
    assert "required: --listen" in one_line_error(capsys, ["--upstream", "127.0.0.1:1"])
    bad = tmp_path / "t.txt"
    bad.write_text("at 1s latency 10ms\nat 2s loss lots\n")
    err = one_line_error(capsys, ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--timeline", str(bad)])
    assert f"{bad} line 2: loss must be a percentage" in err


def test_cli_builds_per_direction_configs_and_embeds_as_subcommand():
    parser = argparse.ArgumentParser(prog="netcode")
    sub = parser.add_subparsers(dest="command", required=True)
    add_lagsim_parser(sub)
    args = parser.parse_args(["lagsim", "--listen", "127.0.0.1:41000", "--upstream", "127.0.0.1:40000",
                              "--profile", "wifi", "--latency", "100", "--loss", "10%", "--down-loss", "0",
                              "--up-profile", "4g", "--reorder", "5", "--bandwidth", "256", "--burst-loss", "1,25,90"])
    assert callable(args.func)
    up, down = configs_from_args(args)
    assert up == PROFILES["4g"].replace(latency=0.1, loss=0.1, reorder=0.05, bandwidth_bps=256000.0,
                                        burst_enter=0.01, burst_exit=0.25, burst_loss=0.9)
    assert down == PROFILES["wifi"].replace(latency=0.1, loss=0.0, reorder=0.05, reorder_delay=0.02,
                                            bandwidth_bps=256000.0, burst_enter=0.01, burst_exit=0.25,
                                            burst_loss=0.9)


def test_cli_port_in_use_is_one_line(capsys):
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    try:
        port = busy.getsockname()[1]
        assert main(["--listen", f"127.0.0.1:{port}", "--upstream", "127.0.0.1:9", "--duration", "1"]) == 1
    finally:
        busy.close()
    assert capsys.readouterr().err == f"lagsim: cannot listen on 127.0.0.1:{port}: Address already in use\n"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_tools_script_sigterm_prints_final_stats():
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "lagsim.py"), "--listen", "127.0.0.1:0",
                             "--upstream", "127.0.0.1:9", "--stats", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("lagsim: listening on")
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + 15 and "lagsim: done" in out and err == ""


def test_tools_script_proxies_real_traffic(tmp_path):
    """tools/lagsim.py as a subprocess in front of a threaded echo server; it exits by itself."""
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                data, addr = echo.recvfrom(2048)
            except OSError:
                continue
            echo.sendto(data, addr)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    timeline = tmp_path / "t.txt"
    timeline.write_text("at 0s latency 30ms\n")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "lagsim.py"), "--listen", "127.0.0.1:0",
         "--upstream", f"127.0.0.1:{echo.getsockname()[1]}", "--profile", "lan", "--timeline", str(timeline),
         "--stats", "0.5", "--duration", "1.5", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("lagsim: listening on 127.0.0.1:"), first + proc.stderr.read()
        port = int(first.split()[3].rsplit(":", 1)[1])
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(1.0)
        rtts = []
        for i in range(10):
            t0 = time.monotonic()
            client.sendto(b"ping%d" % i, ("127.0.0.1", port))
            assert client.recvfrom(100)[0] == b"ping%d" % i
            rtts.append(time.monotonic() - t0)
        client.close()
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop.set()
        thread.join(1)
        echo.close()
    assert proc.returncode == 0, err
    assert min(rtts) >= 0.06  # 30 ms each way
    assert out.count("lagsim [") >= 2 and "lagsim: done" in out and "up: fwd 10 " in out


# --- docs/LAGSIM.md stays true -----------------------------------------------------------------------


def test_doc_profile_table_and_example_timeline_match_the_code():
    text = open(os.path.join(ROOT, "docs", "LAGSIM.md"), encoding="utf-8").read()

    def ms(cell):
        return 0.0 if cell == "0" else float(cell.removesuffix(" ms")) / 1000

    def pct(cell):
        return 0.0 if cell == "0" else float(cell.removesuffix(" %")) / 100

    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0].startswith("`") and cells[0].strip("`") in PROFILES:
            rows[cells[0].strip("`")] = cells
    assert list(rows) == list(PROFILES)
    for name, (_, latency, jitter, loss, burst, dup, reorder, reorder_delay, bandwidth) in rows.items():
        c = PROFILES[name]
        enter, exit_, burst_loss = (pct(x.strip()) for x in burst.split("/")) if burst != "—" else (0.0, 0.0, 0.0)
        assert (ms(latency), ms(jitter), pct(loss), pct(dup), pct(reorder), ms(reorder_delay)) == pytest.approx(
            (c.latency, c.jitter, c.loss, c.duplicate, c.reorder, c.reorder_delay)), name
        assert (enter, exit_, burst_loss) == pytest.approx((c.burst_enter, c.burst_exit, c.burst_loss)), name
        assert (bandwidth == "unlimited") == (c.bandwidth_bps is None), name
    example = text.split("Example:\n\n```\n", 1)[1].split("```", 1)[0]
    timeline = Timeline.parse(example)
    assert len(timeline) == 8 and timeline.end == 60.0
