"""Connection.datagrams' request/response lane must send exactly what the general path (_datagrams) sends: the same
bytes in the same order, resends and keep-alives included, whatever the loss and the gaps between flushes."""
import random

import pytest

from netcode.protocol import Channel, MessageReceived
from netcode.protocol.connection import Connection

from helpers import CADDR, SADDR, connected_pair


def _run(seed: int, steps: int = 3000) -> tuple[list[bytes], list[int]]:
    """A client that sends 0-3 messages per flush (now and then a fragmented one), a server that echoes them, seeded
    loss both ways and flushes 0.1 ms to 0.4 s apart (so that resends and keep-alives fall due); a quiet lossless
    tail delivers everything. Returns every datagram put on the wire (from its PAYLOAD_TAIL on), in order, and
    what the client got back."""
    rng = random.Random(seed)
    s, c, now = connected_pair(defer=True)
    wire, echoed = [], []
    inbox = {s: [], c: []}
    sent = 0
    for step in range(steps + 200):
        lossy = step < steps
        now += rng.choice((0.0001, 0.0005, 0.002, 0.01, 0.03)) if rng.random() > 0.03 else 0.4
        if lossy:
            for _ in range(rng.randrange(4)):
                size = 2000 if rng.random() < 0.05 else rng.randrange(4, 60)
                c.send(Channel.RELIABLE, sent.to_bytes(4, "little") + bytes(size - 4))
                sent += 1
        for ep, peer, addr in ((s, c, CADDR), (c, s, SADDR)):
            for d in inbox[ep]:
                ep.receive_datagram(d, addr, now)
            inbox[ep].clear()
            ep.update(now)
            for e in ep.events():
                if type(e) is MessageReceived:
                    if ep is s:
                        s.send(e.client_id, e.channel, e.data)
                    else:
                        echoed.append(int.from_bytes(e.data[:4], "little"))
            for d, _ in ep.datagrams_to_send(now):
                wire.append(d[8:])  # (after the prefix and the check: the session, hence the check, is random)
                if not lossy or rng.random() > 0.1:
                    inbox[peer].append(d)
            ep.settle(now)
    assert echoed == list(range(sent))  # everything came back, in order
    return wire, echoed


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_lane_sends_what_the_general_path_sends(seed, monkeypatch):
    calls = {"datagrams": 0, "general": 0}
    lane_entry, general_entry = Connection.datagrams, Connection._datagrams

    def counted_lane(self, now, out):
        calls["datagrams"] += 1
        lane_entry(self, now, out)

    def counted_general(self, now, out):
        calls["general"] += 1
        general_entry(self, now, out)

    monkeypatch.setattr(Connection, "datagrams", counted_lane)
    monkeypatch.setattr(Connection, "_datagrams", counted_general)
    lane = _run(seed)
    assert len(lane[0]) > 4000
    assert calls["datagrams"] - calls["general"] > 700  # flushes the lane took
    monkeypatch.setattr(Connection, "datagrams", general_entry)  # no lane: every flush takes the general path
    assert _run(seed) == lane
