"""Key and token files. The private key shared by the token issuer and the servers is 32 random bytes, kept
in a file or an environment variable as 64 hex digits (never a built-in default: a known key lets anyone
mint tokens). A token file holds the 2048 bytes of a connect token, raw or as base64."""
from __future__ import annotations

import binascii
import os

import base64

from .tokens import CONNECT_TOKEN_BYTES, KEY_BYTES

KEY_ENV = "NETCODE_PRIVATE_KEY"


class KeyError_(ValueError):
    """A private key that is missing or malformed (one line, safe to show)."""


def generate_key() -> bytes:
    return os.urandom(KEY_BYTES)


def parse_key(text: str | bytes, where: str) -> bytes:
    """64 hex digits (surrounding whitespace ignored), or exactly 32 raw bytes from a binary file."""
    if isinstance(text, bytes):
        if len(text) == KEY_BYTES:
            return text
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise KeyError_(f"{where}: not a key (64 hex digits or 32 raw bytes)") from None
    text = text.strip()
    try:
        key = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise KeyError_(f"{where}: not a key (64 hex digits)") from None
    if len(key) != KEY_BYTES:
        raise KeyError_(f"{where}: a key is {KEY_BYTES} bytes (64 hex digits), this is {len(key)}")
    return key


def load_private_key(path: str | None = None, env: dict | None = None) -> bytes | None:
    """The key from ``path`` if given, else from $NETCODE_PRIVATE_KEY, else None. KeyError_ when malformed."""
    if path:
        try:
            with open(path, "rb") as f:
                return parse_key(f.read(), path)
        except OSError as e:
            raise KeyError_(f"{path}: {e.strerror}") from None
    value = (os.environ if env is None else env).get(KEY_ENV)
    if value:
        return parse_key(value, f"${KEY_ENV}")
    return None


def write_key(path: str, key: bytes) -> None:
    """Write a key file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.hex() + "\n")


def read_token_file(path: str) -> bytes:
    """A token file as `netcode token` writes it: 2048 raw bytes, or their base64. ValueError in one line."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    if len(data) != CONNECT_TOKEN_BYTES:
        try:
            data = base64.b64decode(data.strip(), validate=True)
        except ValueError:
            raise ValueError(f"{path}: not a connect token (2048 bytes, or their base64)") from None
    if len(data) != CONNECT_TOKEN_BYTES:
        raise ValueError(f"{path}: not a connect token (2048 bytes, or their base64)")
    return data
