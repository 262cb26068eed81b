"""`netcode bench transport`: netcode's reliable channel echo vs a bare UDP echo on the same loop, on both
transports: the development one (CRC check) and the secure one (netcode.io 1.02, ChaCha20-Poly1305 on every
packet), side by side in one run.

Server in a subprocess, client here; 50-byte messages; window 1 (ping-pong) and 32 (pipelined).

Beside them, with no sockets at all: what one ping-pong round trip costs the two endpoints in Python (client
and server each take the other's datagram and flush as the driver does), the floor under our ping-pong RTT that
no kernel or event loop adds to or hides, and that the noisy socket figures vary around. And, in ping-pong runs of
their own with the client instrumented, how long the client takes to answer a datagram on real sockets (from the
moment it is handed the datagram to the moment its answer goes to sendto), ours against the bare client's: the
share of the round trip that is this process's work after it wakes, caches cold, rather than the kernel's.
"""
from __future__ import annotations

import asyncio
import os
import struct
import subprocess
import sys
import time

import numpy as np

from ..aio.driver import DatagramDriver, run
from ..protocol import Channel, ClientProtocol, MessageReceived, ServerProtocol
from ..protocol.secure_client import SecureClientProtocol
from ..security.issuer import LocalIssuer
from ..security.keys import KEY_ENV

HOST = "127.0.0.1"
_STAMP = struct.Struct("<Qd")  # message number, send time
MSG_SIZE = 50


def _payload(n: int, t: float) -> bytes:
    return _STAMP.pack(n, t) + bytes(MSG_SIZE - _STAMP.size)


# the secure echo's key: made per run, handed to the server process in its environment
_KEY = os.urandom(32)


def start_server(mode: str, loop: str, seconds: float) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "netcode.bench.echo_server", "--mode", mode, "--loop", loop,
                             "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, KEY_ENV: _KEY.hex()})
    line = proc.stdout.readline().split()
    if not line or line[0] != "READY":
        proc.kill()
        raise RuntimeError(f"echo server ({mode}) did not start")
    return proc, int(line[1])


class _BareClient(asyncio.DatagramProtocol):
    def __init__(self, window: int, seconds: float, done: asyncio.Future):
        self.window, self.seconds, self.done = window, seconds, done
        self.rtts: list[float] = []
        self.count = 0
        self.next = 0
        self.inflight: dict[int, float] = {}

    def connection_made(self, transport):
        self.transport = transport
        self.start = time.perf_counter()
        for _ in range(self.window):
            self._send()
        asyncio.get_running_loop().call_later(0.05, self._resend_lost)

    def _send(self):
        n = self.next
        self.next += 1
        t = time.perf_counter()
        self.inflight[n] = t
        self.transport.sendto(_payload(n, t))

    def _resend_lost(self):
        # a lost datagram would stall the window forever: replace it after 50 ms (as the peers' bench does)
        now = time.perf_counter()
        for n, t in list(self.inflight.items()):
            if now - t > 0.05:
                del self.inflight[n]
                self._send()
        if not self.done.done():
            asyncio.get_running_loop().call_later(0.05, self._resend_lost)

    def datagram_received(self, data, addr):
        n, t = _STAMP.unpack_from(data)
        if self.inflight.pop(n, None) is None:
            return
        now = time.perf_counter()
        self.rtts.append(now - t)
        self.count += 1
        if now - self.start >= self.seconds:
            if not self.done.done():
                self.done.set_result(now - self.start)
            return
        self._send()


class _StampedTransport:
    """A datagram transport that notes how long after the datagram stamped in ``mark`` the next sendto came: the
    time the process took to answer it. Instrumentation for answer-time runs only (it costs a frame per call)."""

    __slots__ = ("_transport", "_sendto", "_mark", "samples")

    def __init__(self, transport, mark: list):
        self._transport = transport
        self._sendto = transport.sendto
        self._mark = mark
        self.samples: list[int] = []  # nanoseconds, one per answered datagram

    def sendto(self, data, addr=None):
        t = self._mark[0]
        if t:
            self.samples.append(time.perf_counter_ns() - t)
            self._mark[0] = 0
        self._sendto(data, addr)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name):
        return getattr(self._transport, name)


class _StampedBareClient(_BareClient):
    """_BareClient whose answers are timed (see _StampedTransport)."""

    def connection_made(self, transport):
        self.mark = [0]
        super().connection_made(_StampedTransport(transport, self.mark))

    def datagram_received(self, data, addr):
        self.mark[0] = time.perf_counter_ns()
        super().datagram_received(data, addr)


def _answer_p50_us(stamped: _StampedTransport) -> float:
    s = stamped.samples[100:] or stamped.samples  # past the first hundred: warmed up as the RTT runs are
    return float(np.median(s)) / 1e3 if s else float("nan")


async def _bare_client(port: int, window: int, seconds: float, answer: bool = False) -> dict:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    kind = _StampedBareClient if answer else _BareClient
    transport, proto = await loop.create_datagram_endpoint(lambda: kind(window, seconds, done),
                                                           remote_addr=(HOST, port))
    elapsed = await asyncio.wait_for(done, seconds + 10)
    transport.close()
    out = _summary(proto.count, elapsed, proto.rtts)
    if answer:
        out["answer_p50_us"] = _answer_p50_us(proto.transport)
    return out


async def _netcode_client(port: int, window: int, seconds: float, secure: bool = False, answer: bool = False) -> dict:
    if secure:
        client = SecureClientProtocol(LocalIssuer(_KEY).token((HOST, port), 1, time.time()))
    else:
        client = ClientProtocol((HOST, port))
    state = {"count": 0, "next": 0, "start": 0.0}
    rtts: list[float] = []
    done = asyncio.get_running_loop().create_future()
    unpack = _STAMP.unpack_from
    pack = _STAMP.pack
    pad = bytes(MSG_SIZE - _STAMP.size)
    clock = time.perf_counter
    send = client.send
    reliable = Channel.RELIABLE

    def send_one():
        n = state["next"]
        state["next"] = n + 1
        send(Channel.RELIABLE, _payload(n, clock()))

    def on_events(events, now):
        # Per message: take its RTT, send the next one. Kept lean (locals, one clock read per
        # message) so that the harness itself adds little to what is measured.
        n = state["next"]
        count = 0
        start = state["start"]
        for e in events:
            if type(e) is MessageReceived:
                t_now = clock()
                rtts.append(t_now - unpack(e.data)[1])
                count += 1
                if t_now - start >= seconds:
                    if not done.done():
                        done.set_result(t_now - start)
                    continue
                send(reliable, pack(n, t_now) + pad)
                n += 1
        state["next"] = n
        state["count"] += count

    driver = await DatagramDriver.bind(client, handler=on_events)
    stamped = None
    if answer:  # time each answer: stamp the datagram as the driver is handed it, note when the answer leaves
        mark = [0]
        on_datagram = driver._on_datagram

        def stamp(data, addr):
            mark[0] = time.perf_counter_ns()
            on_datagram(data, addr)

        driver._on_datagram = stamp  # start() hands the socket this
        driver.stream.transport = stamped = _StampedTransport(driver.stream.transport, mark)
    client.connect(time.monotonic())
    driver.start()
    for _ in range(500):
        if client.connected:
            break
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("netcode client could not connect to the echo server")
    state["start"] = time.perf_counter()
    for _ in range(window):
        send_one()
    driver.wake()
    elapsed = await asyncio.wait_for(done, seconds + 10)
    client.disconnect()
    await driver.close()
    out = _summary(state["count"], elapsed, rtts)
    if stamped is not None:
        out["answer_p50_us"] = _answer_p50_us(stamped)
    return out


def _endpoint_pair(secure: bool):
    """A connected client and server, sans-IO (no sockets), each with its acks settled after the send."""
    server_addr, client_addr = (HOST, 6000), (HOST, 5000)
    if secure:
        from ..protocol.secure_server import SecureServerProtocol, ServerSecurity

        server = SecureServerProtocol(ServerSecurity(_KEY), max_clients=16)
        server.on_bind(server_addr, time.time() - time.monotonic())
        client = SecureClientProtocol(LocalIssuer(_KEY).token(server_addr, 1, time.time()))
    else:
        server, client = ServerProtocol(max_clients=16), ClientProtocol(server_addr)
    for ep in (client, server):
        ep.defer_acks()
    return client, server, client_addr, server_addr


def _flush(endpoint, handler, now: float) -> list:
    """What DatagramDriver._flush does, minus the socket: update, events to the handler, datagrams, settle."""
    endpoint.update(now)
    events = endpoint.events()
    if events:
        handler(events, now)
    out = list(endpoint.datagrams_to_send(now))
    endpoint.settle(now)
    endpoint.get_timer()
    return out


def _echo_handler(server):
    """The echo server's handler: every message back on its channel to a client still connected."""
    connections, server_send = server.connections, server.send

    def echo(events, now):
        for e in events:
            if type(e) is MessageReceived and e.client_id in connections:
                server_send(e.client_id, e.channel, e.data)

    return echo


def _pinger(send, payload: bytes):
    """The bench client's handler, sans-IO: the next reliable message on each reply; returns it and its count
    of replies (a one-item list)."""
    replies = [0]
    reliable = Channel.RELIABLE

    def ping(events, now):
        for e in events:
            if type(e) is MessageReceived:
                replies[0] += 1
                send(reliable, payload)

    return ping, replies


def _handshake(client, server, client_addr, server_addr, echo, ping) -> None:
    """Connect ``client`` to ``server`` sans-IO, the server's datagrams for other addresses dropped."""
    client.connect(time.monotonic())
    for _ in range(50):
        now = time.monotonic()
        for data, _addr in _flush(client, ping, now):
            server.receive_datagram(data, client_addr, now)
        for data, to in _flush(server, echo, now):
            if to == client_addr:
                client.receive_datagram(data, server_addr, now)
        if client.connected:
            return
    raise RuntimeError("the sans-IO pair did not connect")


def sansio_round_trip_us(secure: bool, round_trips: int = 20000) -> float:
    """Microseconds of Python one reliable 50-byte ping-pong round trip costs both endpoints together."""
    client, server, client_addr, server_addr = _endpoint_pair(secure)
    payload, reliable, clock = bytes(MSG_SIZE), Channel.RELIABLE, time.monotonic
    client_send, echo = client.send, _echo_handler(server)
    ping, replies = _pinger(client_send, payload)
    _handshake(client, server, client_addr, server_addr, echo, ping)
    client_send(reliable, payload)
    out = _flush(client, ping, clock())
    started = time.perf_counter()
    for _ in range(round_trips):
        now = clock()
        for data, _addr in out:
            server.receive_datagram(data, client_addr, now)
        back = _flush(server, echo, now)
        now = clock()
        for data, _addr in back:
            client.receive_datagram(data, server_addr, now)
        out = _flush(client, ping, now)
    elapsed = time.perf_counter() - started
    if replies[0] != round_trips:
        raise RuntimeError(f"the sans-IO echo answered {replies[0]} of {round_trips} messages")
    return elapsed / round_trips * 1e6


IDLE_COUNTS = (0, 15, 63, 255)


def server_pass_us(idle: int, passes: int = 3000) -> float:
    """Microseconds one server pass costs (receive a ping-pong datagram, flush as the driver does, settle, the
    timer) with ``idle`` connected clients that send nothing beside the one that talks: what the server's
    per-datagram work grows by with its connections (netcode.protocol.schedule keeps it flat). Sans-IO, warm."""
    server = ServerProtocol(max_clients=idle + 1)
    server.defer_acks()
    server_addr, clock = (HOST, 6000), time.monotonic
    payload, reliable = bytes(MSG_SIZE), Channel.RELIABLE
    clients = [ClientProtocol(server_addr) for _ in range(idle + 1)]
    echo = _echo_handler(server)
    for i, c in enumerate(clients):
        c.defer_acks()
        _handshake(c, server, (HOST, 5000 + i), server_addr, echo, lambda events, now: None)
    talker, talker_addr = clients[0], (HOST, 5000)
    ping, replies = _pinger(talker.send, payload)
    talker.send(reliable, payload)
    out = _flush(talker, ping, clock())
    spent, perf = 0, time.perf_counter_ns
    for _ in range(passes):
        now = clock()
        started = perf()
        for data, _addr in out:
            server.receive_datagram(data, talker_addr, now)
        back = _flush(server, echo, now)
        spent += perf() - started
        for data, to in back:
            if to == talker_addr:
                talker.receive_datagram(data, server_addr, now)
        out = _flush(talker, ping, now)
    if replies[0] != passes:
        raise RuntimeError(f"the sans-IO server answered {replies[0]} of {passes} messages")
    return spent / passes / 1000


def _summary(count: int, elapsed: float, rtts: list[float]) -> dict:
    a = np.asarray(rtts) * 1e6 if rtts else np.zeros(1)
    return {"msgs_per_s": count / elapsed, "rtt_p50_us": float(np.percentile(a, 50)),
            "rtt_p99_us": float(np.percentile(a, 99)), "messages": count}


def measure(mode: str, window: int, seconds: float, loop: str, answer: bool = False) -> dict:
    """One run of ``mode`` with ``window`` messages in flight; ``answer``: instrumented to time the client's answers
    (``answer_p50_us``), which costs it a little, so its RTT is not the benchmark's."""
    proc, port = start_server(mode, loop, seconds + 30)
    try:
        if mode == "bare":
            return run(_bare_client(port, window, seconds, answer), loop)
        return run(_netcode_client(port, window, seconds, secure=mode == "secure", answer=answer), loop)
    finally:
        proc.kill()
        proc.wait()


def bench(quick: bool = False, repeats: int | None = None, loop: str = "auto", progress=None) -> dict:
    """Median of several runs of each (mode, window); returns {"suite", "metrics", "runs"}."""
    seconds = 1.0 if quick else 3.0
    repeats = repeats or (2 if quick else 5)
    runs: dict[str, list[dict]] = {}
    combos = [(m, w) for w in (1, 32) for m in ("bare", "netcode", "secure")]
    for r in range(repeats):
        for mode, window in combos:  # interleaved so drift on a noisy machine hits both alike
            runs.setdefault(f"{mode}_w{window}", []).append(measure(mode, window, seconds, loop))
            if progress:
                progress()
        for mode in ("bare", "netcode"):  # answer times, in instrumented ping-pong runs of their own
            runs.setdefault(f"{mode}_answer", []).append(measure(mode, 1, seconds, loop, answer=True))
            if progress:
                progress()
    med = {k: {f: float(np.median([x[f] for x in v])) for f in ("msgs_per_s", "rtt_p50_us", "rtt_p99_us")}
           for k, v in runs.items()}
    sansio = {secure: float(np.median([sansio_round_trip_us(secure, 5000 if quick else 20000) for _ in range(5)]))
              for secure in (False, True)}
    passes = {n: float(np.median([server_pass_us(n, 500 if quick else 3000) for _ in range(3)])) for n in IDLE_COUNTS}
    metrics = {
        "reliable_msgs_per_s_w32": med["netcode_w32"]["msgs_per_s"],
        "bare_msgs_per_s_w32": med["bare_w32"]["msgs_per_s"],
        "ratio_w32": med["netcode_w32"]["msgs_per_s"] / med["bare_w32"]["msgs_per_s"],
        "reliable_msgs_per_s_w1": med["netcode_w1"]["msgs_per_s"],
        "bare_msgs_per_s_w1": med["bare_w1"]["msgs_per_s"],
        "ratio_w1": med["netcode_w1"]["msgs_per_s"] / med["bare_w1"]["msgs_per_s"],
        "rtt_p50_us_w1": med["netcode_w1"]["rtt_p50_us"],
        "rtt_p99_us_w1": med["netcode_w1"]["rtt_p99_us"],
        "bare_rtt_p50_us_w1": med["bare_w1"]["rtt_p50_us"],
        "rtt_p50_us_w32": med["netcode_w32"]["rtt_p50_us"],
        "rtt_p99_us_w32": med["netcode_w32"]["rtt_p99_us"],
        # the secure transport (netcode.io, every packet sealed) against the development one, same run
        "secure_msgs_per_s_w32": med["secure_w32"]["msgs_per_s"],
        "secure_to_plain_w32": med["secure_w32"]["msgs_per_s"] / med["netcode_w32"]["msgs_per_s"],
        "secure_msgs_per_s_w1": med["secure_w1"]["msgs_per_s"],
        "secure_to_plain_w1": med["secure_w1"]["msgs_per_s"] / med["netcode_w1"]["msgs_per_s"],
        "secure_rtt_p50_us_w1": med["secure_w1"]["rtt_p50_us"],
        # no sockets: the Python both endpoints spend on one ping-pong round trip (median of 5)
        "sansio_round_trip_us": sansio[False],
        "secure_sansio_round_trip_us": sansio[True],
        # real sockets, ping-pong: how long the client takes from being handed a datagram to sending its answer
        "answer_p50_us": float(np.median([x["answer_p50_us"] for x in runs["netcode_answer"]])),
        "bare_answer_p50_us": float(np.median([x["answer_p50_us"] for x in runs["bare_answer"]])),
        # no sockets: one server pass for a ping-pong datagram with that many idle connections beside the talker
        **{f"server_pass_us_idle{n}": passes[n] for n in IDLE_COUNTS},
    }
    return {"suite": "transport", "metrics": metrics, "runs": runs,
            "scenario": {"message_bytes": MSG_SIZE, "seconds_per_run": seconds, "repeats": repeats, "loop": loop}}
