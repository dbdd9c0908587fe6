"""``broker audit verify|show``: check and read the per-region audit trails.

A region has one chain per writer (each process that writes its audit).
``verify`` checks every chain of each region and prints one line per chain
(``region/writer``: records, head hash, ok or the first bad record: segment
file, line, reason); it exits 0 when every chain is intact and proven by its
anchor, else 1. Anchors are read from the store (``<state>/broker.db``),
or, with ``--config`` of an AWS-mode broker, where that config keeps them.
Records after a region's latest anchor are an UNSEALED TAIL: unproven, counted,
and exit 1 unless ``--accept-unsealed`` (a running broker's last second, or a
crashed one's; a restart discloses and anchors it). ``show`` prints
records matching the filters, every chain merged in time order (ties by
writer, then seq): one readable line each, or JSON Lines with ``--json``.
Without ``--region`` both cover every region found under ``<state>/regions``.
The state directory is ``--state``, else ``$BROKER_STATE``, else ``./var``.
Times without an offset are taken as UTC.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker.audit.anchor import AuditAnchor
from broker.audit.catalog import EVENT_TYPES
from broker.audit.chains import region_chains
from broker.audit.keys import FileSecretSource
from broker.audit.reader import AuditQuery, query_region
from broker.audit.verify import VerifyResult, verify_region
from broker.cli.anchors import open_anchor
from broker.errors import InputError
from broker.models import Anchor
from broker.state import MAIN_WRITER, StateLayout, check_region
from broker.typing import Region, WriterId
from broker.validate import timestamp


def register(subparsers: Any) -> None:
    """Add ``broker audit verify`` and ``broker audit show``."""
    audit = subparsers.add_parser("audit", help="verify and read the audit trail")
    commands = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    verify = commands.add_parser("verify", help="check the hash chains; exit 1 if broken")
    _common(verify)
    verify.add_argument(
        "--accept-unsealed", action="store_true",
        help="exit 0 even when records follow the last anchor (they are still reported)",
    )  # fmt: skip
    verify.add_argument("--config", type=Path, help="the broker's config (AWS mode anchors)")
    verify.set_defaults(handler=run_verify)
    show = commands.add_parser("show", help="print audit records matching filters")
    _common(show)
    show.add_argument("--session", metavar="ID", help="session id")
    show.add_argument("--ticket", metavar="ID", help="ticket id")
    show.add_argument("--org", metavar="ID", help="org id")
    show.add_argument("--event", metavar="TYPE", choices=EVENT_TYPES, help="event type")
    show.add_argument("--since", metavar="ISO8601", help="from this time (inclusive)")
    show.add_argument("--until", metavar="ISO8601", help="up to this time (exclusive)")
    show.add_argument("--limit", metavar="N", type=int, help="at most N records per region")
    show.set_defaults(handler=run_show)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--region", metavar="REGION", help="one region (default: all)")
    parser.add_argument("--state", metavar="DIR", help="state dir ($BROKER_STATE or ./var)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def state_dir(args: argparse.Namespace) -> Path:
    """The state directory from ``--state``, ``$BROKER_STATE`` or ``./var``."""
    return Path(args.state or os.environ.get("BROKER_STATE") or "var")


def regions(state: Path, region: str | None) -> list[str]:
    """The region asked for, or every region with an audit trail under ``state``."""
    if region is not None:
        return [check_region(region)]
    return StateLayout(state).existing_regions(lambda path: (path / "audit").is_dir())


def run_verify(args: argparse.Namespace) -> int:
    """Handler: verify each chain of each region against its anchor; 0 if all intact and proven."""
    state = state_dir(args)
    results = asyncio.run(_verify_all(state, args))
    for result in results:
        print(json.dumps(result.to_dict()) if args.json else _describe(result))
    if not results and not args.json:
        print(f"no audit trails under {StateLayout(state).regions}")
    proven = args.accept_unsealed or all(r.unproven_records == 0 for r in results)
    return 0 if proven and all(result.ok for result in results) else 1


async def _verify_all(state: Path, args: argparse.Namespace) -> list[VerifyResult]:
    secrets = FileSecretSource(state, create=False)
    found: list[VerifyResult] = []
    async with open_anchor(state, args.config) as anchor:
        for region in regions(state, args.region):
            latest = await _anchors(anchor, state, Region(region))
            found += verify_region(state, region, secrets, latest).chains
    return found


async def _anchors(
    anchor: AuditAnchor | None, state: Path, region: Region
) -> dict[WriterId, Anchor | None]:
    """The latest anchor of each chain of ``region`` found in ``state`` or anchored.

    Without an anchor place none has one."""
    if anchor is None:
        return dict.fromkeys(region_chains(state, region))
    writers = region_chains(state, region).keys() | set(await anchor.writers(region))
    return {writer: await anchor.latest(region, writer) for writer in sorted(writers)}


def _describe(result: VerifyResult) -> str:
    name = f"{result.region}/{result.writer}"
    if result.problem is not None:
        return f"{name}: BROKEN at {result.problem}"
    seals = "".join(
        f"; {n} records after seq {after} sealed at a restart after a crash"
        for after, n in result.tail_seals
    )
    if result.unproven_records:
        where = (
            "with no anchor at all"
            if result.anchored_seq is None
            else f"after the last anchor (seq {result.anchored_seq})"
        )
        return (
            f"{name}: UNSEALED TAIL: {result.unproven_records} records {where}"
            f" are unproven ({result.records} records, head {result.last_hash[:12]}{seals})"
        )
    return f"{name}: ok ({result.records} records, head {result.last_hash[:12]}{seals})"


def run_show(args: argparse.Namespace) -> int:
    """Handler: print matching records of each region, oldest first."""
    state = state_dir(args)
    query = AuditQuery(
        session_id=args.session, ticket_id=args.ticket, org_id=args.org, event=args.event,
        since=parse_time("since", args.since), until=parse_time("until", args.until),
        limit=args.limit,
    )  # fmt: skip
    records = [
        record
        for region in regions(state, args.region)
        for record in query_region(state, region, query).records
    ]
    records.sort(key=lambda r: (str(r.get("time")), str(r.get("region")), _chain_order(r)))
    for record in records:
        print(json.dumps(record) if args.json else format_record(record))
    return 0


def _chain_order(record: dict[str, Any]) -> tuple[str, int]:
    return str(record.get("writer", MAIN_WRITER)), int(record.get("seq", 0))


def parse_time(field: str, text: str | None) -> datetime | None:
    """An ISO 8601 time from the command line; no offset means UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(field, "not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return timestamp(moment.isoformat(), field)  # the API's rules: representable in UTC


_HIDDEN = ("seq", "time", "region", "writer", "event", "prev", "hash")


def format_record(record: dict[str, Any]) -> str:
    """One readable line: time, region/writer#seq, event, then the fields as key=value."""
    fields = " ".join(
        f"{key}={','.join(map(str, value)) if isinstance(value, list) else value}"
        for key, value in record.items()
        if key not in _HIDDEN
    )
    chain = f"{record.get('region')}/{record.get('writer', MAIN_WRITER)}"
    head = f"{record.get('time')} {chain} #{record.get('seq')} {record.get('event')}"
    return f"{head} {fields}".rstrip()
