"""The flags every command shares for the secure transport: where the private key is, the protocol id, and
(servers) the address tokens name, or the explicit choice of the insecure development transport."""
from __future__ import annotations

import ipaddress

from .options import int_in, split_address

_KEY_HELP = {
    "server": "",
    "client": "; the client then issues its own tokens, as a trusted backend would",
    "matchmaker": "; required: every host of the fleet has it",
}


def add_key_options(parser, server: bool = False, role: str | None = None) -> None:
    role = role or ("server" if server else "client")
    g = parser.add_argument_group("security (netcode.io connect tokens)")
    g.add_argument("--key-file", metavar="FILE",
                   help="the 32-byte private key shared with the token issuer, as 64 hex digits "
                        "(default: $NETCODE_PRIVATE_KEY)" + _KEY_HELP[role])
    g.add_argument("--protocol-id", type=_protocol_id, default=None, metavar="ID",
                   help="the 64-bit protocol id tokens are for (decimal or 0x hex; default netcode's)")
    if server:
        g.add_argument("--public-address", action="append", default=[], metavar="HOST:PORT",
                       help="an address connect tokens name for this server (repeatable; default: the address "
                            "it binds, which must then be a specific one)")
        g.add_argument("--insecure", action="store_true",
                       help="allow the insecure development transport on a non-loopback address")


def _protocol_id(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        value = -1
    return int_in(0, 2 ** 64 - 1)(str(value))


def protocol_id(args) -> int:
    from ..security.tokens import DEFAULT_PROTOCOL_ID

    return DEFAULT_PROTOCOL_ID if getattr(args, "protocol_id", None) is None else args.protocol_id


def private_key(args) -> bytes | None:
    """The key from --key-file or $NETCODE_PRIVATE_KEY; raises KeyError_ in one line when malformed."""
    from ..security.keys import load_private_key

    return load_private_key(getattr(args, "key_file", None))


def key_or_problem(args) -> tuple[bytes | None, str | None]:
    """(the key or None when none is given, None) or (None, the one line saying why it cannot be read)."""
    from ..security.keys import KeyError_

    try:
        return private_key(args), None
    except KeyError_ as e:
        return None, str(e)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def server_security(args, host: str):
    """(ServerSecurity or None, error line or None) for a server binding ``host``."""
    from ..protocol.secure_server import ServerSecurity
    from ..security.tokens import TokenError

    key, problem = key_or_problem(args)
    if problem:
        return None, problem
    if key is None:
        if args.public_address:
            return None, "--public-address needs a private key (--key-file or $NETCODE_PRIVATE_KEY)"
        if not is_loopback(host) and not args.insecure:
            return None, (f"binding {host} without a private key would serve anyone on the network insecurely: "
                          "give --key-file (or $NETCODE_PRIVATE_KEY), or --insecure to do it anyway")
        return None, None
    try:
        addresses = [split_address(a) for a in args.public_address]
        if not addresses and host in ("0.0.0.0", "::"):
            return None, f"binding {host}: give --public-address HOST:PORT, the address tokens name"
        return ServerSecurity(key, addresses, protocol_id(args)), None
    except (ValueError, TokenError) as e:
        return None, f"--public-address: {e}"


def client_issuer(args):
    """(LocalIssuer or None, error line or None) from a client-side --key-file / $NETCODE_PRIVATE_KEY."""
    from ..security.issuer import LocalIssuer

    key, problem = key_or_problem(args)
    if problem:
        return None, problem
    return (LocalIssuer(key, protocol_id(args)) if key is not None else None), None
