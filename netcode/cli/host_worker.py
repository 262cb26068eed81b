"""The command line of one `netcode host` worker process (the parent starts it; not for people):

    python -m netcode.cli.host_worker --index 0 --host 127.0.0.1 --port 7000 ...

The private key comes in $NETCODE_PRIVATE_KEY (none: the development transport)."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from ..aio.driver import run
    from ..aio.host_worker import serve_worker
    from ..security.keys import load_private_key
    from ..security.tokens import DEFAULT_PROTOCOL_ID

    p = argparse.ArgumentParser(prog="python -m netcode.cli.host_worker")
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--protocol-id", type=int, default=DEFAULT_PROTOCOL_ID)
    p.add_argument("--public-address", action="append", default=[])
    p.add_argument("--record", default=None)
    p.add_argument("--max-rooms", type=int, default=64)
    p.add_argument("--npcs", type=int, default=None)
    p.add_argument("--drain-timeout", type=float, default=30.0)
    a = p.parse_args(argv)
    key = load_private_key()  # $NETCODE_PRIVATE_KEY, from the parent; None: the development transport
    public = [(h, int(pt)) for h, _, pt in (s.rpartition(":") for s in a.public_address)]
    run(serve_worker(a.index, a.host, a.port, key=key, protocol_id=a.protocol_id, public=public,
                     record_dir=a.record, max_rooms=a.max_rooms, npcs=a.npcs, drain_timeout=a.drain_timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
