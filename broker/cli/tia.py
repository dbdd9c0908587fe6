"""``broker tia``: the Transfer Impact Assessment of one org, via the API."""

from __future__ import annotations

import argparse
import json
import urllib.parse
from pathlib import Path

from broker.audit.tia import render_markdown
from broker.cli.common import add_instance_options, client
from broker.clock import SystemClock
from broker.errors import InputError
from broker.render.tia_pdf import render_pdf


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tia``."""
    parser = subparsers.add_parser("tia", help="Transfer Impact Assessment for one org (ops token)")
    parser.add_argument("--org", required=True, help="org id")
    parser.add_argument("--from", dest="start", required=True, help="start, ISO 8601 with offset")
    parser.add_argument(
        "--to", dest="end", required=True, help="end (exclusive), ISO 8601 with offset"
    )
    parser.add_argument("--format", choices=("md", "json"), default="md")
    parser.add_argument(
        "--pdf", type=Path, metavar="FILE", help="also write the report as a PDF document to FILE"
    )
    add_instance_options(parser)
    parser.set_defaults(handler=show_tia)


def show_tia(args: argparse.Namespace) -> int:
    """Print the report as Markdown or JSON (and write it as a PDF with ``--pdf``)."""
    query = urllib.parse.urlencode({"from": args.start, "to": args.end, "format": "json"})
    report = client(args).call("GET", f"/v1/orgs/{urllib.parse.quote(args.org)}/tia?{query}")
    if args.format == "json" or args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_markdown(report))
    if args.pdf is not None:
        try:
            args.pdf.write_bytes(render_pdf(report, SystemClock().now()))
        except OSError:
            raise InputError("pdf", "file cannot be written") from None
    return 0
