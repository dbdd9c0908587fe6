"""``broker console-link``: a one-time sign-in URL for the web console (local mode)."""

from __future__ import annotations

import argparse

from broker.cli.client import ApiClient, api_url, state_dir
from broker.cli.common import local_token
from broker.typing import ROLES


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``console-link``."""
    parser = subparsers.add_parser(
        "console-link", help="print a one-time sign-in URL for the web console (local mode)"
    )
    parser.add_argument("--as", dest="subject", required=True, help="who signs in (a staff id...)")
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--org", help="org id (required for customer_admin)")
    parser.add_argument("--state", help="state folder (default: $BROKER_STATE or ./var)")
    parser.add_argument("--api", help="broker API URL (default: $BROKER_API or the local instance)")
    parser.set_defaults(handler=link)


def link(args: argparse.Namespace) -> int:
    """Ask the local broker for a link signing in as ``--as``; print it (it works once, 60 s)."""
    state = state_dir(args.state)
    token = local_token(state, args.subject, args.role, args.org)
    answer = ApiClient(api_url(args.api, state), token).call("POST", "/console/auth/links")
    print(answer["url"])
    return 0
