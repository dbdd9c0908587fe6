"""``broker run``: start the API, one gateway per region and the demo targets."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

from broker.config import load_config
from broker.runtime.gc_pauses import freeze_startup_objects
from broker.runtime.root import Runtime


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``."""
    parser = subparsers.add_parser("run", help="start the broker (API, gateways, demo targets)")
    parser.add_argument("--state", type=Path, help="state folder (default: $BROKER_STATE or ./var)")
    parser.add_argument("--config", type=Path, help="TOML or JSON config file")
    parser.set_defaults(handler=run)


async def serve(runtime: Runtime) -> None:
    """Start, print the endpoints, and run until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        endpoints = await runtime.start()
        freeze_startup_objects()
        print(json.dumps(endpoints, indent=2), flush=True)
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await runtime.stop()


def run(args: argparse.Namespace) -> int:
    """Entry point of ``broker run``."""
    config = load_config(args.config, args.state)
    asyncio.run(serve(Runtime(config)))
    return 0
