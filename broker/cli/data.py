"""``broker import FILE``: upsert orgs, staff, tickets and targets via the API."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from broker.cli.common import add_instance_options, client, emit
from broker.errors import InputError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``import``."""
    parser = subparsers.add_parser("import", help="import reference data (admin token)")
    parser.add_argument(
        "file", help="JSON document {orgs, staff, tickets, targets}, or - for stdin"
    )
    add_instance_options(parser)
    parser.set_defaults(handler=import_file)


def read_document(name: str) -> object:
    """Parse the JSON file (or stdin)."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as error:
        raise InputError("file", "cannot be read") from error
    except ValueError as error:
        raise InputError("file", "is not valid JSON") from error


def import_file(args: argparse.Namespace) -> int:
    """POST the document to ``/v1/import``."""
    counts = client(args).call("POST", "/v1/import", read_document(args.file))
    emit(args, counts, "imported " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0
