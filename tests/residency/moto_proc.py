"""A moto server as a process of its own, for one network namespace.

``python -m tests.residency.moto_proc --host H --port P --out FILE
(--region R | --store-region R --table T)`` serves moto on ``H:P`` in its
own process (so each region's moto has its own backends and its own
namespace), makes the resources a broker needs there (a region's bucket, KMS
keys and log group, or the store's DynamoDB table), writes their names to
``FILE`` as JSON and serves until SIGTERM. The resources are made through
the server's own address, so that setup traffic stays on the namespace's
loopback and never shows on a link.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import threading
from pathlib import Path

from broker.aws.clients import ClientFactory
from broker.aws.dynamodb.store import DynamoStore
from broker.typing import Region
from tests.aws.e2e_world import region_resources
from tests.aws.moto_server import MotoServer


def provision(server: MotoServer, args: argparse.Namespace) -> dict[str, str]:
    """The resources this server stands for, made in it; their names."""
    if args.region:
        region = Region(args.region)
        return region_resources(ClientFactory({region: server.url}, max_attempts=1), region)
    region = Region(args.store_region)
    store = DynamoStore(ClientFactory({region: server.url}, max_attempts=1), region, args.table)
    store.create_table()
    asyncio.run(store.close())
    return {"table": args.table}


def main() -> None:
    """Serve, provision, report, then wait for SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--region")
    parser.add_argument("--store-region")
    parser.add_argument("--table")
    args = parser.parse_args()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server = MotoServer(args.host, args.port)
    server.start()
    made = provision(server, args)
    temporary = args.out.with_suffix(".tmp")
    temporary.write_text(json.dumps({"url": server.url, **made}))
    temporary.replace(args.out)
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
