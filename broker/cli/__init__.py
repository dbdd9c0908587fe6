"""The ``broker`` command: one module per command group, registered here.

Each group module exposes ``register(subparsers)``, which adds its parser and
sets ``handler`` (a callable taking the parsed namespace and returning an exit
status). ``main`` turns ``BrokerError`` into a one-line message and status 2,
so every command fails with a clear reason and never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from broker.errors import BrokerError

# Command-group modules, in the order ``broker --help`` lists them.
GROUPS: tuple[str, ...] = (
    "run",
    "session",
    "consent",
    "token",
    "data",
    "policy",
    "audit",
    "tia",
    "recording",
    "spool",
    "console",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="broker",
        description="Region-pinned virtual-access session broker.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in GROUPS:
        module = importlib.import_module(f"broker.cli.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``broker`` console script."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args)
    except BrokerError as error:
        print(f"broker: error: {error.reason}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
