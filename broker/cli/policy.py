"""``broker policy explain``: ask the access policy "why", singly or in bulk.

Single decision from flags prints one JSON object. ``--batch FILE`` (``-`` for
stdin) reads JSON Lines and writes one JSON line per input line, in order; an
invalid line gets ``{"id", "error"}`` naming the field. The exit status is 1
when any input was invalid, else 0 (denials are answers, not failures).
``--config FILE`` applies policy overrides (a JSON object, see
``broker.policy.config``) for what-ifs.
"""

from __future__ import annotations

import argparse
import io
import json
import operator
import re
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TextIO

from broker.clock import SystemClock
from broker.errors import InputError
from broker.policy.config import DEFAULT, PolicyConfig
from broker.policy.explain import explain

# flag destination -> record key, for the single-decision form
_FLAGS = {
    "staff_country": "staff_country",
    "org_region": "org_region",
    "tier": "tier",
    "scope": "scope",
    "severity": "severity",
    "at": "at",
    "consent_until": "consent_until",
    "ticket_status": "ticket_status",
}
_SWITCHES = operator.attrgetter("staff_inactive", "terminal_access", "consent_waives_eea_only")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def register(subparsers: Any) -> None:
    """Add ``broker policy explain``."""
    policy = subparsers.add_parser("policy", help="inspect the access policy")
    commands = policy.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)
    parser = commands.add_parser(
        "explain",
        help="explain access decisions, singly or in bulk",
        description="Print the access decision, reasons and support window as JSON.",
    )
    parser.add_argument("--staff-country", metavar="CC", help="ISO 3166 alpha-2 code")
    parser.add_argument("--org-region", metavar="REGION", help="AWS region code")
    parser.add_argument("--tier", metavar="standard|eea_only")
    parser.add_argument("--scope", metavar="SCOPE", help="default: product")
    parser.add_argument("--severity", metavar="N", help="1-4, default 3")
    parser.add_argument("--at", metavar="ISO8601", help="with offset; default now")
    parser.add_argument("--consent-until", metavar="ISO8601", help="a consent valid until")
    parser.add_argument("--ticket-status", metavar="open|closed", help="default: open")
    parser.add_argument("--staff-inactive", action="store_true", help="staff is deactivated")
    parser.add_argument(
        "--terminal-access",
        action="store_true",
        help="the org opted in to terminals on EEA tickets",
    )
    parser.add_argument(
        "--consent-waives-eea-only",
        action="store_true",
        help="the consent carries waives_eea_only (an eea_only org's waiver)",
    )
    parser.add_argument("--batch", metavar="FILE", help="JSON Lines input; - for stdin")
    parser.add_argument("--config", metavar="FILE", help="JSON policy overrides")
    parser.set_defaults(handler=run_explain)


def run_explain(args: argparse.Namespace) -> int:
    """Handler: one decision from flags, or a batch; 1 if any input was invalid."""
    config = _load_config(args.config)
    now = SystemClock().now()
    if args.batch is None:
        return _emit([explain(_record_from_flags(args), now, config)], sys.stdout)
    if any(getattr(args, dest) is not None for dest in _FLAGS) or any(_SWITCHES(args)):
        raise InputError("batch", "cannot be combined with single-decision flags")
    if args.batch == "-":
        return _emit(_explain_lines(_stdin_lines(), now, config), sys.stdout)
    try:
        with open(args.batch, encoding="utf-8", errors="replace") as stream:
            return _emit(_explain_lines(stream, now, config), sys.stdout)
    except OSError:
        raise InputError("batch", "file cannot be read") from None


def _record_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The record the flags describe; only given flags become keys."""
    record: dict[str, Any] = {}
    for dest, key in _FLAGS.items():
        value = getattr(args, dest)
        if value is not None:
            record[key] = value
    if "severity" in record and _INTEGER.fullmatch(record["severity"]):
        record["severity"] = int(record["severity"])
    record["staff_active"] = not args.staff_inactive
    record["terminal_access"] = args.terminal_access
    if args.consent_waives_eea_only:
        record["consent_waives_eea_only"] = True
    return record


def _explain_lines(
    lines: Iterable[str], now: datetime, config: PolicyConfig
) -> Iterator[dict[str, Any]]:
    """One output object per input line, in order."""
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            error = InputError("line", "is not valid JSON")
            yield {"id": None, "error": error.to_dict()}
            continue
        yield explain(record, now, config)


def _emit(outputs: Iterable[dict[str, Any]], out: TextIO) -> int:
    """Write each object as one JSON line; 1 if any was an error."""
    status = 0
    for output in outputs:
        out.write(json.dumps(output) + "\n")
        if "error" in output:
            status = 1
    out.flush()
    return status


def _stdin_lines() -> TextIO:
    """Standard input as UTF-8 text; bad bytes become U+FFFD and deny, never crash."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return sys.stdin
    return io.TextIOWrapper(buffer, encoding="utf-8", errors="replace")


def _load_config(path: str | None) -> PolicyConfig:
    """``DEFAULT``, or the defaults with a JSON file's overrides."""
    if path is None:
        return DEFAULT
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except OSError:
        raise InputError("config", "file cannot be read") from None
    except ValueError:
        raise InputError("config", "is not valid JSON") from None
    return PolicyConfig.from_mapping(data)
