"""Issuing connect tokens in this process: what a web backend (or netcode's matchmaker) does, for local
demos, bots and tests. The caller gives the Unix time (this module reads no clock)."""
from __future__ import annotations

import os

from .tokens import DEFAULT_PROTOCOL_ID, issue_token, pack_user_data


class LocalIssuer:
    """Mints tokens with a private key held here. ``token(server, client_id, now, name=...)`` -> 2048 bytes."""

    def __init__(self, private_key: bytes, protocol_id: int = DEFAULT_PROTOCOL_ID, expire_seconds: int = 30,
                 timeout_seconds: int = 5):
        self.private_key = private_key
        self.protocol_id = protocol_id
        self.expire_seconds = expire_seconds
        self.timeout_seconds = timeout_seconds

    @staticmethod
    def new_client_id() -> int:
        return int.from_bytes(os.urandom(8), "little")

    def token(self, servers, client_id: int, now: float, **user) -> bytes:
        """A token for ``servers`` (one (host, port) or a list), with user data ``user`` (name, team, rank...)."""
        if isinstance(servers, tuple) and len(servers) == 2 and isinstance(servers[1], int):
            servers = [servers]
        return issue_token(self.private_key, client_id, servers, now, protocol_id=self.protocol_id,
                           expire_seconds=self.expire_seconds, timeout_seconds=self.timeout_seconds,
                           user_data=pack_user_data(user) if user else b"").to_bytes()
