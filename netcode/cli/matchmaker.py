"""`netcode matchmaker`: the matchmaker's HTTP API as its own process, placing matches on a fleet of
`netcode host --nats` hosts through NATS. docs/HOSTING.md, "Many hosts: NATS"."""
from __future__ import annotations

from .options import add_queue_options, fail, float_at_least, listen_port, queue_rules
from .security import add_key_options, key_or_problem, protocol_id

COMMAND = "netcode matchmaker"


def add_parser(sub) -> None:
    m = sub.add_parser("matchmaker", help="the matchmaker's HTTP API for a fleet of hosts on NATS")
    m.add_argument("--nats", metavar="URL", required=True, help="the NATS server the hosts publish on")
    m.add_argument("--port", type=listen_port, default=8000, help="the HTTP API's TCP port (default 8000)")
    m.add_argument("--http-host", default="127.0.0.1", help="address the HTTP API binds (default 127.0.0.1)")
    add_queue_options(m)  # the bots that fill short matches run in this process
    m.add_argument("--host-timeout", type=float_at_least(0.5), default=3.0,
                   help="seconds without a heartbeat before a host is lost (default 3)")
    m.add_argument("--duration", type=float_at_least(0), default=0.0, help="seconds (0 = until Ctrl-C/SIGTERM)")
    add_key_options(m, role="matchmaker")
    m.set_defaults(func=run)


def run(args) -> int:
    from ..aio.driver import run as run_loop
    from ..aio.fleet import run_matchmaker

    key, problem = key_or_problem(args)
    if problem:
        return fail(COMMAND, problem)
    if key is None:
        return fail(COMMAND, "give the private key the fleet's hosts share: --key-file (or $NETCODE_PRIVATE_KEY)")
    rules, problem = queue_rules(args)
    if problem:
        return fail(COMMAND, problem)
    try:
        return run_loop(run_matchmaker(args.nats, key=key, protocol_id=protocol_id(args), rules=rules,
                                       port=args.port, http_host=args.http_host, duration=args.duration,
                                       host_timeout=args.host_timeout))
    except (OSError, RuntimeError) as e:
        return fail(COMMAND, str(e), 1)
