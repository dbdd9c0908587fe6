"""``broker token``: mint a bearer token with a local-mode broker's key."""

from __future__ import annotations

import argparse
from datetime import timedelta

from broker.auth.local import LocalAuthority
from broker.cli.client import state_dir
from broker.cli.common import duration
from broker.clock import SystemClock
from broker.typing import ROLES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``token``."""
    parser = subparsers.add_parser("token", help="mint a bearer token (local mode)")
    parser.add_argument(
        "--subject", required=True, help="the caller's id (a staff id for engineers)"
    )
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--org", help="org id (required for customer_admin)")
    parser.add_argument("--ttl", type=duration, default=3600, help="lifetime, e.g. 1h (default)")
    parser.add_argument("--state", help="state folder (default: $BROKER_STATE or ./var)")
    parser.set_defaults(handler=mint)


def mint(args: argparse.Namespace) -> int:
    """Print one token."""
    authority = LocalAuthority.from_state(state_dir(args.state), clock=SystemClock())
    print(authority.mint_token(args.subject, args.role, args.org, ttl=timedelta(seconds=args.ttl)))
    return 0
