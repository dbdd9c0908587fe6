"""``broker consent grant|revoke|list``: for customer admins (``--token``); the request
subcommands (engineers ask, admins decide) are ``broker.cli.consent_requests``."""

from __future__ import annotations

import argparse

from broker.cli import consent_requests
from broker.cli.common import add_instance_options, client, emit


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``consent`` and its subcommands."""
    parser = subparsers.add_parser(
        "consent", help="grant, revoke and list customer consents; request and decide them"
    )
    commands = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    grant = commands.add_parser("grant", help="consent to one staff member working one ticket")
    grant.add_argument("--ticket", required=True, help="ticket id")
    grant.add_argument("--staff", required=True, help="staff id the consent names")
    grant.add_argument("--until", required=True, help="expiry, ISO 8601 with offset")
    grant.add_argument(
        "--waive-eea-only",
        action="store_true",
        help="waive EEA-only support for this consent (required for staff outside the EEA"
        " on an eea_only org's product ticket)",
    )
    grant.set_defaults(handler=grant_consent)
    revoke = commands.add_parser("revoke", help="revoke a consent (ends its sessions)")
    revoke.add_argument("--ticket", required=True, help="ticket id")
    revoke.add_argument("consent_id")
    revoke.set_defaults(handler=revoke_consent)
    lister = commands.add_parser("list", help="list a ticket's consents")
    lister.add_argument("--ticket", required=True, help="ticket id")
    lister.set_defaults(handler=list_consents)
    for sub in (grant, revoke, lister):
        add_instance_options(sub)
    consent_requests.register(commands)


def _line(consent: dict[str, str]) -> str:
    state = "revoked" if consent.get("revoked_at") else f"until {consent['expires_at']}"
    waiver = "  waives EEA-only" if consent.get("waives_eea_only") else ""
    return f"{consent['consent_id']}  {consent['staff_id']}  {state}{waiver}"


def grant_consent(args: argparse.Namespace) -> int:
    """POST a consent."""
    body: dict[str, object] = {"staff_id": args.staff, "expires_at": args.until}
    if args.waive_eea_only:
        body["waives_eea_only"] = True
    found = client(args).call("POST", f"/v1/tickets/{args.ticket}/consents", body)
    emit(args, found, _line(found))
    return 0


def revoke_consent(args: argparse.Namespace) -> int:
    """DELETE a consent."""
    found = client(args).call("DELETE", f"/v1/tickets/{args.ticket}/consents/{args.consent_id}")
    emit(args, found, _line(found))
    return 0


def list_consents(args: argparse.Namespace) -> int:
    """GET the ticket's consents."""
    found = client(args).call("GET", f"/v1/tickets/{args.ticket}/consents")
    emit(args, found, "\n".join(_line(c) for c in found["items"]) or "no consents")
    return 0
