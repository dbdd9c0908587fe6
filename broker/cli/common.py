"""Options and helpers every API-calling command shares."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

from broker.auth.local import LocalAuthority
from broker.cli.client import ApiClient, api_url, endpoints, require_token, state_dir
from broker.clock import SystemClock
from broker.errors import InputError
from broker.validate import digits


def add_instance_options(parser: argparse.ArgumentParser) -> None:
    """``--state``, ``--api`` and ``--token``: which broker, as whom."""
    parser.add_argument(
        "--state", help="state folder of a local broker (default: $BROKER_STATE or ./var)"
    )
    parser.add_argument("--api", help="broker API URL (default: $BROKER_API or the local instance)")
    parser.add_argument("--token", help="bearer token (default: $BROKER_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")


def subcommand(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    text: str,
    handler: object,
) -> argparse.ArgumentParser:
    """One subcommand with the instance options and ``--as`` (an engineer, local mode)."""
    parser = commands.add_parser(name, help=text, description=text)
    add_instance_options(parser)
    parser.add_argument(
        "--as", dest="as_staff", metavar="STAFF_ID", help="act as this engineer (local mode only)"
    )
    parser.set_defaults(handler=handler)
    return parser


def local_token(state: Path, subject: str, role: str, org: str | None = None) -> str:
    """Mint a token with a local-mode broker's signing key (``--as``)."""
    if endpoints(state).get("mode", "local") != "local":
        raise InputError("as", "works only against a local-mode broker")
    authority = LocalAuthority.from_state(state, clock=SystemClock())
    return authority.mint_token(subject, role, org, ttl=timedelta(minutes=10))


def client(args: argparse.Namespace, as_staff: str | None = None) -> ApiClient:
    """An API client for the chosen instance; ``as_staff`` mints an engineer token."""
    state = state_dir(args.state)
    base = api_url(args.api, state)
    token = local_token(state, as_staff, "engineer") if as_staff else require_token(args.token)
    return ApiClient(base, token)


def emit(args: argparse.Namespace, data: object, text: str) -> None:
    """Print ``data`` as JSON with ``--json``, else the human ``text``."""
    print(json.dumps(data, indent=2) if args.json else text, file=sys.stdout)


def duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``1h`` or ``7d`` as seconds (argparse type)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        return digits(number, "duration", 1, 10**9) * units[unit]
    except InputError:
        raise argparse.ArgumentTypeError("must look like 90, 90s, 15m, 1h or 7d") from None
