"""``broker consent request|requests|approve|deny|cancel``: asking for consent, and deciding.

An engineer denied with ``consent_required`` asks the ticket's org:
``broker consent request --ticket T --duration 2h --reason "..."``. With
``--wait`` the command stays until an admin decides (or the request expires),
and with ``--target`` too it then opens the session as ``broker session
open`` does, so the happy path is one command:

    broker consent request --ticket T-1001 --duration 2h --reason "..." \\
        --as eng-us-1 --wait --target app-1

A denial, an expiry or a withdrawal ends the wait with exit status 2 and the
state (and the admin's reason). Customer admins list (``requests``) and
decide (``approve [--duration D]``, ``deny --reason``) with their token.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from broker.cli.common import client, duration, emit
from broker.cli.common import subcommand as _command
from broker.cli.session import open_session
from broker.typing import CONSENT_REQUEST_STATES
from broker.validate import identifier

POLL_SECONDS = 5.0
"""How often ``--wait`` asks whether the request was decided."""
PATH = "/v1/consent-requests"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the request subcommands to ``broker consent``."""
    asker = _command(commands, "request", "ask the ticket's org for consent", request_consent)
    asker.add_argument("--ticket", required=True, help="ticket id")
    asker.add_argument("--duration", required=True, type=duration, help="e.g. 2h (1m to 7d)")
    asker.add_argument("--reason", required=True, help="why (phones and emails are pseudonymised)")
    asker.add_argument("--wait", action="store_true", help="wait until an admin decides")
    asker.add_argument("--target", help="with --wait: open a session on this target once approved")
    asker.add_argument(
        "--open", dest="open_browser", action="store_true", help="open a view session's link"
    )
    asker.add_argument("--poll", type=float, default=POLL_SECONDS, help=argparse.SUPPRESS)
    lister = _command(commands, "requests", "list consent requests you may see", list_requests)
    lister.add_argument(
        "--request-state", choices=CONSENT_REQUEST_STATES, help="only requests in this state"
    )
    lister.add_argument("--ticket", help="only on this ticket")
    approver = _command(commands, "approve", "approve a consent request", approve_request)
    approver.add_argument("request_id")
    approver.add_argument("--duration", type=duration, help="shorter than asked (e.g. 1h)")
    approver.add_argument(
        "--waive-eea-only", action="store_true", help="waive EEA-only support (where needed)"
    )
    denier = _command(commands, "deny", "deny a consent request", deny_request)
    denier.add_argument("request_id")
    denier.add_argument("--reason", required=True, help="why (the engineer reads it)")
    _command(commands, "cancel", "withdraw your pending request", cancel_request).add_argument(
        "request_id"
    )


def line(found: dict[str, Any]) -> str:
    """One request in one line: id, state, ticket, engineer, durations, decision."""
    hours = f"{found['duration_seconds'] / 3600:g}h asked"
    if found.get("granted_seconds"):
        hours += f", {found['granted_seconds'] / 3600:g}h granted"
    decided = f" by {found['decided_by']}" if found.get("decided_by") else ""
    denied = f": {found['deny_reason']}" if found.get("deny_reason") else ""
    return (
        f"{found['consent_request_id']}  {found['state']}{decided}  {found['ticket_id']}"
        f"  {found['staff_id']} ({found['staff_country']})  {hours}{denied}"
    )


def request_consent(args: argparse.Namespace) -> int:
    """POST a request; with ``--wait``, stay until decided (and open the session)."""
    body = {"duration_seconds": args.duration, "reason": args.reason}
    ticket = identifier(args.ticket, "ticket")
    made = client(args, args.as_staff).call("POST", f"/v1/tickets/{ticket}/consent-requests", body)
    if not args.wait:
        emit(args, made, line(made))
        return 0
    print(f"waiting for a decision on {line(made)}", file=sys.stderr)
    decided = wait_for_decision(args, made["consent_request_id"])
    if decided["state"] != "approved":
        emit(args, decided, line(decided))
        return 2
    if args.target is None:
        emit(args, decided, line(decided))
        return 0
    print(line(decided), file=sys.stderr)
    return open_session(_session_args(args))


def wait_for_decision(args: argparse.Namespace, request_id: str) -> dict[str, Any]:
    """Poll the request until it is no longer pending (a fresh token each time with
    ``--as``: a local token lives ten minutes, a wait may last a day)."""
    path = f"{PATH}/{identifier(request_id, 'request_id')}"
    while True:
        found: dict[str, Any] = client(args, args.as_staff).call("GET", path)
        if found["state"] != "pending":
            return found
        time.sleep(args.poll)


def _session_args(args: argparse.Namespace) -> argparse.Namespace:
    """``broker session open``'s options for the approved ticket and ``--target``."""
    return argparse.Namespace(**vars(args) | {"ttl": None, "source_address": None, "mode": None})


def list_requests(args: argparse.Namespace) -> int:
    """GET the requests the caller may see."""
    query = [f"state={args.request_state}"] if args.request_state else []
    if args.ticket:
        query.append(f"ticket_id={identifier(args.ticket, 'ticket')}")
    path = PATH + ("?" + "&".join(query) if query else "")
    found = client(args, args.as_staff).call("GET", path)
    emit(args, found, "\n".join(line(r) for r in found["items"]) or "no consent requests")
    return 0


def _decide(args: argparse.Namespace, action: str, body: dict[str, Any] | None) -> int:
    path = f"{PATH}/{identifier(args.request_id, 'request_id')}/{action}"
    found = client(args, args.as_staff).call("POST", path, body)
    emit(args, found, line(found))
    return 0


def approve_request(args: argparse.Namespace) -> int:
    """POST an approval (optionally shorter, optionally waiving EEA-only support)."""
    body: dict[str, Any] = {}
    if args.duration:
        body["duration_seconds"] = args.duration
    if args.waive_eea_only:
        body["waives_eea_only"] = True
    return _decide(args, "approve", body)


def deny_request(args: argparse.Namespace) -> int:
    """POST a denial with its reason."""
    return _decide(args, "deny", {"reason": args.reason})


def cancel_request(args: argparse.Namespace) -> int:
    """POST a withdrawal of one's own request."""
    return _decide(args, "cancel", None)
