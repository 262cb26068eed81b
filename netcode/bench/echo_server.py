"""Echo servers for the transport benchmark, run as a separate process.

  python -m netcode.bench.echo_server --mode bare|netcode|secure [--loop auto|uvloop|asyncio] --seconds S

"secure" is the netcode.io transport with the key in $NETCODE_PRIVATE_KEY. Prints "READY <port>" once
listening; exits after --seconds (bounded by design).
"""
from __future__ import annotations

import argparse
import asyncio

from ..aio.driver import DatagramDriver, run
from ..protocol import MessageReceived, ServerProtocol


class _BareEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


async def _serve(mode: str, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    if mode == "bare":
        transport, _ = await loop.create_datagram_endpoint(_BareEcho, local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
    else:
        if mode == "secure":
            from ..protocol.secure_server import SecureServerProtocol, ServerSecurity
            from ..security.keys import load_private_key

            server = SecureServerProtocol(ServerSecurity(load_private_key()), max_clients=16)
        else:
            server = ServerProtocol(max_clients=16)
        send = server.send
        connections = server.connections

        def echo(events, now):
            # What an application would do: every message arrives as an event and every reply goes
            # through the public send (not to a client whose disconnect came in the same batch).
            for e in events:
                if type(e) is MessageReceived:
                    client_id, channel, data = e
                    if client_id in connections:
                        send(client_id, channel, data)

        driver = await DatagramDriver.bind(server, handler=echo)
        driver.start()
        port = driver.address[1]
    print("READY", port, flush=True)
    await asyncio.sleep(seconds)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m netcode.bench.echo_server")
    p.add_argument("--mode", choices=("bare", "netcode", "secure"), required=True)
    p.add_argument("--loop", default="auto")
    p.add_argument("--seconds", type=float, default=60.0)
    a = p.parse_args(argv)
    run(_serve(a.mode, a.seconds), a.loop)


if __name__ == "__main__":
    main()
