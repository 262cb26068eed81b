"""Real loopback UDP through the asyncio driver (the few tests that open sockets)."""
import asyncio
import subprocess
import sys
import time

import pytest

from netcode.aio import DatagramDriver
from netcode.protocol import Channel, ClientProtocol, Connected, MessageReceived, ServerProtocol

pytestmark = pytest.mark.e2e


async def _echo_roundtrip():
    server = ServerProtocol(max_clients=4)

    def on_server(events, now):
        for e in events:
            if isinstance(e, MessageReceived):
                server.send(e.client_id, e.channel, e.data)

    sd = await DatagramDriver.bind(server, handler=on_server)
    sd.start()
    got = []
    client = ClientProtocol(sd.address, payload=b"e2e")
    cd = await DatagramDriver.bind(client, handler=lambda evs, now: got.extend(evs))
    client.connect(time.monotonic())
    cd.start()
    deadline = time.monotonic() + 5
    while not client.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    assert client.connected
    big = bytes(range(256)) * 200  # 51,200 bytes: fragmented over ~45 datagrams
    msgs = [b"m%d" % i for i in range(500)] + [big]
    for m in msgs:
        client.send(Channel.RELIABLE, m)
    cd.wake()
    while time.monotonic() < deadline + 5:
        echoed = [e.data for e in got if isinstance(e, MessageReceived)]
        if len(echoed) == len(msgs):
            break
        await asyncio.sleep(0.005)
    assert echoed == msgs
    assert any(isinstance(e, Connected) for e in got)
    stats = client.connection.stats
    client.disconnect()
    await cd.close()
    for _ in range(100):
        if not server.connections:
            break
        await asyncio.sleep(0.005)
    await sd.close()
    return stats, server


def test_echo_over_loopback_udp():
    stats, server = asyncio.run(_echo_roundtrip())
    assert 0 < stats.rtt < 0.1
    assert not server.connections  # the DISCONNECT arrived


def test_client_survives_server_that_is_not_there():
    async def run():
        client = ClientProtocol(("127.0.0.1", 9), config=None)
        events = []
        cd = await DatagramDriver.bind(client, handler=lambda evs, now: events.extend(evs))
        client.config = client.config.__class__(connect_timeout=0.3)
        client.connect(time.monotonic())
        cd.start()
        await asyncio.sleep(0.6)
        await cd.close()
        return events

    events = asyncio.run(run())
    assert [type(e).__name__ for e in events] == ["ConnectFailed"]


def test_a_client_socket_is_connected_to_its_server_and_hears_no_one_else():
    async def run():
        loop = asyncio.get_running_loop()
        sd = await DatagramDriver.bind(ServerProtocol(max_clients=2))
        sd.start()
        client = ClientProtocol(sd.address)
        cd = await DatagramDriver.bind(client)
        cd.start()
        plain = await DatagramDriver.bind(ClientProtocol(sd.address), connect=False)
        plain.start()
        peers = (cd.stream.transport.get_extra_info("peername"), plain.stream.transport.get_extra_info("peername"))
        stranger, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        stranger.sendto(b"x" * 40, cd.address)
        stranger.sendto(b"x" * 40, plain.address)  # sent second: once it is in, the first had its chance
        for _ in range(400):
            if plain.endpoint.dropped:
                break
            await asyncio.sleep(0.005)
        dropped = (dict(client.dropped), dict(plain.endpoint.dropped))
        stranger.close()
        for d in (cd, plain, sd):
            await d.close()
        return sd.address, peers, dropped

    server_addr, (connected, unconnected), (dropped, plain_dropped) = asyncio.run(run())
    assert connected == server_addr and unconnected is None
    assert dropped == {}  # the kernel kept the stranger's datagram from the connected socket
    assert plain_dropped == {"foreign address": 1}


def test_a_connected_driver_sends_nothing_to_another_address():
    class Wayward(ClientProtocol):
        def datagrams_to_send(self, now):
            return [(b"a" * 20, ("127.0.0.1", 9)), (b"b" * 20, self.server_addr)]

    async def run():
        loop = asyncio.get_running_loop()
        got = []

        class Sink(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                got.append(data)

        sink, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
        d = await DatagramDriver.bind(Wayward(sink.get_extra_info("sockname")))
        d.start()
        for _ in range(400):
            if got:
                break
            await asyncio.sleep(0.005)
        await d.close()
        sink.close()
        return got, d.misaddressed, d.errors

    got, misaddressed, errors = asyncio.run(run())
    assert got and set(got) == {b"b" * 20}  # each flush's datagram for the peer, none of those for port 9
    assert misaddressed >= 1 and errors == 0


def test_demo_command_runs_and_prints_stats():
    out = subprocess.run([sys.executable, "-m", "netcode", "demo", "--duration", "1.5", "--clients", "2"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "rtt" in out.stdout and "kbit/s" in out.stdout


def test_the_driver_asks_for_large_socket_buffers():
    import asyncio
    import socket

    from netcode.aio.driver import DatagramDriver
    from netcode.protocol import ServerProtocol

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        default = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    async def main():
        d = await DatagramDriver.bind(ServerProtocol(max_clients=2, secret=b"b" * 32))
        try:
            return d.buffers
        finally:
            await d.close()

    rcv, snd = asyncio.run(main())
    assert rcv >= default and snd > 0  # as large as the OS allows (capped by net.core.rmem_max)


def test_a_server_process_pins_the_allocator_thresholds_on_glibc():
    import platform
    import sys

    from netcode.aio.memory import pin_allocator

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert pin_allocator() is glibc  # a no-op (False) elsewhere, never an error
