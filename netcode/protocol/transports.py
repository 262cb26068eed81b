"""Choosing a transport: the secure one (netcode.io 1.02, connect tokens) when there is a key or a token,
the insecure development one otherwise. Match servers and clients build theirs here."""
from __future__ import annotations

from .client import ClientProtocol
from .config import TransportConfig
from .secure_client import SecureClientProtocol
from .secure_server import SecureServerProtocol, ServerSecurity
from .server import ServerProtocol


def server_transport(max_clients: int, config: TransportConfig | None = None, secret: bytes | None = None,
                     accept_payload: bytes = b"", security: ServerSecurity | None = None):
    """A SecureServerProtocol with ``security``; else the development ServerProtocol (``secret``: its cookie key)."""
    if security is not None:
        return SecureServerProtocol(security, max_clients, config, accept_payload)
    return ServerProtocol(max_clients=max_clients, config=config, secret=secret, accept_payload=accept_payload)


def client_transport(server_addr, config: TransportConfig | None = None, payload: bytes = b"",
                     nonce: int | None = None, connect_token=None):
    """A SecureClientProtocol for a connect token (it names the servers; a ``server_addr`` given too is where
    datagrams go, e.g. a lag proxy in front of them); else a development ClientProtocol."""
    if connect_token is not None:
        return SecureClientProtocol(connect_token, config, payload, via=server_addr)
    return ClientProtocol(server_addr, config, payload=payload, nonce=nonce)


def describe(transport) -> str:
    """One phrase for a server's start line: which transport, and for the secure one what tokens must name."""
    if isinstance(transport, SecureServerProtocol):
        names = ", ".join(f"{h}:{p}" for h, p in sorted(transport.public_addresses)) or "(no address yet)"
        return f"secure (netcode.io 1.02 tokens for {names}, protocol id {transport.security.protocol_id:#x})"
    return ("INSECURE development transport (no private key: no tokens, no encryption, anyone who sees a datagram "
            "can take a session; give --key-file for netcode.io tokens, see netcode token --help)")
