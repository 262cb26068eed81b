"""netcode.io 1.02: connect tokens, packet encryption and replay protection (sans-IO, no sockets, no clock).

See docs/PROTOCOL.md ("Secure transport") and netcode.io's STANDARD.md, which this follows byte for byte.
"""
from .keys import KeyError_, generate_key, load_private_key
from .tokens import (ConnectToken, PrivateToken, TokenError, issue_token, pack_user_data, read_user_data)

__all__ = ["ConnectToken", "PrivateToken", "TokenError", "issue_token", "pack_user_data", "read_user_data",
           "KeyError_", "generate_key", "load_private_key"]
