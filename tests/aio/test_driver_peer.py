"""Which endpoints get a connected socket (DatagramDriver.bind), decided without opening one."""
import os
import time

from netcode.aio.driver import _connectable
from netcode.protocol import ClientProtocol, ServerProtocol
from netcode.protocol.secure_client import SecureClientProtocol
from netcode.security.issuer import LocalIssuer

KEY = os.urandom(32)


def test_only_an_ipv4_literal_peer_of_an_ipv4_socket_is_connectable():
    assert _connectable("127.0.0.1", ("127.0.0.1", 4000)) == ("127.0.0.1", 4000)
    assert _connectable("0.0.0.0", ["10.0.0.2", 4000]) == ["10.0.0.2", 4000]
    assert _connectable("", ("10.0.0.2", 4000)) == ("10.0.0.2", 4000)
    assert _connectable("127.0.0.1", ("localhost", 4000)) is None  # a name: replies come from an address
    assert _connectable("127.0.0.1", ("::1", 4000)) is None
    assert _connectable("::", ("127.0.0.1", 4000)) is None
    assert _connectable("127.0.0.1", None) is None
    assert _connectable("127.0.0.1", ("127.0.0.1", "4000")) is None
    assert _connectable("127.0.0.1", "sim-peer") is None


def test_clients_name_their_sole_peer_and_servers_have_none():
    assert ClientProtocol(("127.0.0.1", 4000)).sole_peer == ("127.0.0.1", 4000)
    assert getattr(ServerProtocol(max_clients=2), "sole_peer", None) is None
    now = time.time()
    one = LocalIssuer(KEY).token([("127.0.0.1", 4000)], 1, now)
    two = LocalIssuer(KEY).token([("127.0.0.1", 4000), ("127.0.0.1", 4001)], 1, now)
    assert SecureClientProtocol(one).sole_peer == ("127.0.0.1", 4000)
    assert SecureClientProtocol(two).sole_peer is None  # a failed server hands over to the next
    assert SecureClientProtocol(two, via=("127.0.0.1", 5000)).sole_peer == ("127.0.0.1", 5000)
