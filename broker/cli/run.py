"""``broker run``, ``broker api`` and ``broker region``: start everything, or one role.

``run`` starts the API, one regional unit per region and the demo targets in
one process; ``api`` the control plane alone; ``region --region R`` the
regional units of the regions named (docs/deployment.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

from broker.config import Config, load_config
from broker.errors import BrokerError, InputError
from broker.runtime.gc_pauses import freeze_startup_objects
from broker.runtime.root import Role, Runtime
from broker.state import check_region
from broker.typing import Region


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``, ``api`` and ``region``."""
    commands = (
        ("run", "start the broker (API, gateways, demo targets)", "all"),
        ("api", "start the control plane (API, policy, store, signing)", "api"),
        ("region", "start regional units (SSH gateway, viewer, recorder)", "region"),
    )
    for name, help_text, role in commands:
        parser = subparsers.add_parser(name, help=help_text)
        parser.add_argument(
            "--state", type=Path, help="state folder (default: $BROKER_STATE or ./var)"
        )
        parser.add_argument("--config", type=Path, help="TOML or JSON config file")
        if role == "region":
            parser.add_argument(
                "--region", action="append", type=_region, dest="regions",
                help="a region to serve (repeatable; default: the config's regions)",
            )  # fmt: skip
        parser.set_defaults(handler=run, role=role)


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


def _region(value: str) -> str:
    """A region code for argparse (its own error message names the option)."""
    try:
        return check_region(value)
    except BrokerError as error:
        raise argparse.ArgumentTypeError(error.reason) from None


def _serving(config: Config, regions: list[str] | None) -> tuple[Region, ...]:
    """The regions named with ``--region``; each must be one of the config's."""
    for region in regions or ():
        if region not in config.regions:
            raise InputError("region", f"{region} is not in the config's regions")
    return tuple(Region(r) for r in regions or ())


def run(args: argparse.Namespace) -> int:
    """Entry point of ``broker run``, ``broker api`` and ``broker region``."""
    config = load_config(args.config, args.state)
    role: Role = args.role
    regions = _serving(config, getattr(args, "regions", None))
    asyncio.run(serve(Runtime(config, role=role, serving=regions)))
    return 0
