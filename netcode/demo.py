"""`netcode demo`: a local server and headless clients over real loopback UDP, with live stats."""
from __future__ import annotations

import asyncio
import time

from .aio.driver import DatagramDriver, run
from .protocol import Channel, ClientProtocol, MessageReceived, ServerProtocol


class _Rates:
    """Turns byte counters into kbit/s between two prints."""

    def __init__(self):
        self.last: dict[int, tuple[float, int, int]] = {}

    def kbits(self, key: int, now: float, bytes_in: int, bytes_out: int) -> tuple[float, float]:
        t0, i0, o0 = self.last.get(key, (now, bytes_in, bytes_out))
        self.last[key] = (now, bytes_in, bytes_out)
        dt = max(now - t0, 1e-9)
        return (bytes_in - i0) * 8 / dt / 1000, (bytes_out - o0) * 8 / dt / 1000


async def _demo(n_clients: int, duration: float, port: int) -> None:
    server = ServerProtocol(max_clients=max(8, n_clients))

    def on_server(events, now):
        for e in events:
            if type(e) is MessageReceived and e.channel == Channel.RELIABLE:
                server.broadcast(Channel.RELIABLE, e.data)  # chat: relay to everyone
            elif type(e) is MessageReceived:
                server.send(e.client_id, Channel.SEQUENCED, e.data)  # state: echo back
            else:
                print(f"server: {e}")

    sd = await DatagramDriver.bind(server, port=port, handler=on_server)
    sd.start()
    print(f"server listening on {sd.address[0]}:{sd.address[1]}")
    clients, drivers = [], []
    for i in range(n_clients):
        c = ClientProtocol(sd.address, payload=f"bot{i}".encode())
        d = await DatagramDriver.bind(c, handler=lambda evs, now: None)
        c.connect(time.monotonic())
        d.start()
        clients.append(c)
        drivers.append(d)
    rates = _Rates()
    start = time.monotonic()
    tick = 0
    try:
        while duration <= 0 or time.monotonic() - start < duration:
            await asyncio.sleep(1 / 30)
            tick += 1
            for i, (c, d) in enumerate(zip(clients, drivers)):
                if c.connected:
                    c.send(Channel.UNRELIABLE, b"state %d %d" % (i, tick) + bytes(40))
                    if tick % 30 == 0:
                        c.send(Channel.RELIABLE, b"chat from bot%d" % i)
                    d.wake()
            if tick % 30 == 0:
                now = time.monotonic()
                print(f"t={now - start:5.1f}s  clients={len(server.connections)}  dropped={sum(server.dropped.values())}")
                for cid, conn in sorted(server.connections.items()):
                    st = conn.stats
                    kin, kout = rates.kbits(cid, now, st.bytes_in, st.bytes_out)
                    print(f"  client {cid}: rtt {st.rtt * 1000:6.2f} ms  jitter {st.jitter * 1000:5.2f} ms  "
                          f"loss {st.loss * 100:4.1f} %  in {kin:6.1f} kbit/s  out {kout:6.1f} kbit/s  "
                          f"msgs in/out {st.messages_in}/{st.messages_out}")
    finally:
        for c, d in zip(clients, drivers):
            c.disconnect()
            await d.close()
        await asyncio.sleep(0.05)
        await sd.close()


def main(args) -> int:
    try:
        run(_demo(args.clients, args.duration, args.port))
    except KeyboardInterrupt:
        print("\nstopped")
    return 0
