"""``broker recordings pending``: what waits in the spool for upload to S3.

Lists ``<state>/regions/<region>/recordings/*.cast`` per region (all regions
under the state folder unless ``--region``), with size and whether the file
is complete (``.done`` marker, or closed and quiet). Exit status 0; reading
the spool needs no AWS access.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from broker.aws.recordings import pending_in, spool_dir
from broker.state import StateLayout, check_region

QUIET_SECONDS = 30.0


def register(subparsers: Any) -> None:
    """Add ``broker recordings pending``."""
    group = subparsers.add_parser("recordings", help="recordings awaiting upload")
    commands = group.add_subparsers(dest="recordings_command", metavar="COMMAND", required=True)
    pending = commands.add_parser("pending", help="list recordings not yet uploaded")
    pending.add_argument("--region", metavar="REGION", help="one region (default: all)")
    pending.add_argument("--state", metavar="DIR", help="state dir ($BROKER_STATE or ./var)")
    pending.add_argument("--json", action="store_true", help="JSON Lines output")
    pending.set_defaults(handler=run_pending)


def _regions(state: Path, region: str | None) -> list[str]:
    if region is not None:
        return [check_region(region)]
    return StateLayout(state).existing_regions()


def run_pending(args: argparse.Namespace) -> int:
    """Print one line per pending recording; a total per region."""
    state = Path(args.state or os.environ.get("BROKER_STATE") or "var")
    for region in _regions(state, args.region):
        found = pending_in(spool_dir(state, region), QUIET_SECONDS)
        for item in found:
            row = {
                "region": region,
                "file": item.name,
                "bytes": item.size,
                "complete": item.complete,
            }
            if args.json:
                print(json.dumps(row))
            else:
                status = "complete" if item.complete else "open"
                print(f"{region}\t{item.name}\t{item.size}\t{status}")
        if not args.json:
            print(f"{region}: {len(found)} pending")
    return 0
