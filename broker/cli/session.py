"""``broker session open|list|show|revoke``.

``open`` picks the access mode the policy allows for the ticket (the
routing's ``access``): a terminal where allowed, else the viewer;
``--terminal`` and ``--view`` choose. For a terminal it makes a fresh Ed25519
key pair per session, asks the API for a certificate, keeps both under
``~/.broker/sessions/<id>/`` (0600), and prints the ``ssh`` command to run;
the private key never leaves this machine. For the viewer it asks without a
key and prints the answer's ``viewer_url``; ``--open`` starts the browser on it.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import webbrowser
from pathlib import Path
from typing import Any

import asyncssh

from broker.cli.client import ApiClient, ApiError
from broker.cli.common import client, duration, emit
from broker.cli.common import subcommand as _command
from broker.typing import SESSION_STATES, AccessMode
from broker.validate import identifier

HOME_DIR = Path("~/.broker/sessions")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``session`` and its subcommands."""
    parser = subparsers.add_parser("session", help="open, list, show and revoke sessions")
    commands = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    opener = _command(commands, "open", "request a session and print the ssh command", open_session)
    opener.add_argument("--ticket", required=True, help="ticket id")
    opener.add_argument("--target", required=True, help="target name within the ticket's org")
    opener.add_argument(
        "--ttl", type=duration, help="lifetime, e.g. 15m (default 15m; the policy caps it)"
    )
    opener.add_argument("--source-address", help="CIDR the certificate is bound to")
    mode = opener.add_mutually_exclusive_group()
    mode.add_argument(
        "--terminal", dest="mode", action="store_const", const="terminal", help="ask for SSH"
    )
    mode.add_argument(
        "--view", dest="mode", action="store_const", const="view", help="ask for the viewer"
    )
    opener.add_argument(
        "--open", dest="open_browser", action="store_true", help="open the viewer in a browser"
    )
    lister = _command(commands, "list", "list sessions", list_sessions)
    lister.add_argument("--ticket", help="only sessions on this ticket")
    lister.add_argument("--staff", help="only sessions of this staff member")
    lister.add_argument(
        "--session-state", choices=SESSION_STATES, help="only sessions in this state"
    )
    _command(commands, "show", "show one session", show_session).add_argument("session_id")
    _command(commands, "revoke", "revoke one session now", revoke_session).add_argument(
        "session_id"
    )
    resumer = _command(
        commands, "resume", "print a fresh viewer link to your live view session", resume_session
    )
    resumer.add_argument("session_id")
    resumer.add_argument(
        "--open", dest="open_browser", action="store_true", help="open the viewer in a browser"
    )
    watcher = _command(
        commands, "watch", "print a read-only viewer link to a live view session", watch_session
    )
    watcher.add_argument("session_id")
    watcher.add_argument(
        "--open", dest="open_browser", action="store_true", help="open the viewer in a browser"
    )


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def keep_credentials(grant: dict[str, Any], key: asyncssh.SSHKey) -> Path:
    """Store key, certificate and the gateway's host key (0600) in the session's folder."""
    # The id names a folder: accept only a plain identifier from the server.
    folder = HOME_DIR.expanduser() / identifier(grant["session_id"], "session_id")
    folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    _write_private(folder / "id_ed25519", key.export_private_key())
    _write_private(folder / "id_ed25519-cert.pub", grant["certificate"].encode() + b"\n")
    gateway = grant["gateway"]
    if gateway.get("host_key"):
        entry = f"[{gateway['host']}]:{gateway['port']} {gateway['host_key']}\n"
        _write_private(folder / "known_hosts", entry.encode())
    return folder


def ssh_command(grant: dict[str, Any], folder: Path) -> str:
    """A ready-to-run OpenSSH command that trusts only this gateway's host key."""
    gateway = grant["gateway"]
    parts = ["ssh", "-tt", "-p", str(gateway["port"]), "-i", str(folder / "id_ed25519")]
    parts += ["-o", f"CertificateFile={folder / 'id_ed25519-cert.pub'}", "-o", "IdentitiesOnly=yes"]
    if gateway.get("host_key"):
        parts += [
            "-o",
            f"UserKnownHostsFile={folder / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
        ]
    parts += [f"{grant['username']}@{gateway['host']}"]
    return shlex.join(parts)


def open_session(args: argparse.Namespace) -> int:
    """Ask for a session in the mode chosen or allowed; print how to connect.

    Denied for want of the customer's consent, it says how to ask for one."""
    try:
        return _open_session(args)
    except ApiError as error:
        if "consent_required" in error.problem.get("reasons", ()):
            print(CONSENT_HINT.format(ticket=args.ticket), file=sys.stderr)
        raise


CONSENT_HINT = (
    "broker: the customer's consent is needed; ask for it (and open the session once"
    " approved) with: broker consent request --ticket {ticket} --duration 2h"
    ' --reason "..." --wait --target <target>'
)


def _open_session(args: argparse.Namespace) -> int:
    api = client(args, args.as_staff)
    mode = args.mode or ("view" if args.open_browser else None) or _allowed_mode(api, args.ticket)
    body: dict[str, Any] = {"ticket_id": args.ticket, "target": args.target}
    if args.ttl:
        body["ttl_seconds"] = args.ttl
    if args.source_address:
        body["source_address"] = args.source_address
    if mode == "view":
        return open_view(args, api.call("POST", "/v1/sessions", body))
    key = asyncssh.generate_private_key("ssh-ed25519")
    body["public_key"] = key.export_public_key().decode().strip()
    grant = api.call("POST", "/v1/sessions", body)
    grant["ssh_command"] = ssh_command(grant, keep_credentials(grant, key))
    emit(args, grant, f"{_summary(grant)}\n{grant['ssh_command']}")
    return 0


def _allowed_mode(api: ApiClient, ticket: str) -> AccessMode:
    """A terminal where the policy allows one on this ticket, else the viewer."""
    routing = api.call("GET", f"/v1/tickets/{identifier(ticket, 'ticket')}/routing")
    return "terminal" if "terminal" in routing.get("access", ()) else "view"


def open_view(args: argparse.Namespace, grant: dict[str, Any]) -> int:
    """Print the viewer link of a view session (and open it with ``--open``)."""
    url = grant.get("viewer_url")
    if url is None:
        emit(args, grant, f"{_summary(grant)}\nno viewer_url: this broker serves no viewer here")
        return 0
    return show_link(args, grant, f"{_summary(grant)}\n{url}", url)


def show_link(args: argparse.Namespace, answer: dict[str, Any], text: str, url: str) -> int:
    """Print a viewer link; with ``--open``, start the user's browser on it."""
    emit(args, answer, text)
    if args.open_browser and not webbrowser.open(url):
        print("broker: could not start a browser; open the link above", file=sys.stderr)
    return 0


def _summary(grant: dict[str, Any]) -> str:
    return (
        f"session {grant['session_id']} in {grant['region']} until {grant['valid_before']}"
        f" ({grant.get('access', 'terminal')})"
    )


def list_sessions(args: argparse.Namespace) -> int:
    """Print matching sessions, one per line."""
    filters = {"ticket_id": args.ticket, "staff_id": args.staff, "state": args.session_state}
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    page = client(args, args.as_staff).call("GET", "/v1/sessions" + (f"?{query}" if query else ""))
    lines = [
        f"{s['session_id']}  {s['state']:<9} {s['region']:<14} {s['ticket_id']}  {s['staff_id']}"
        for s in page["items"]
    ]
    emit(args, page, "\n".join(lines) or "no sessions")
    return 0


def show_session(args: argparse.Namespace) -> int:
    """Print one session."""
    found = client(args, args.as_staff).call("GET", f"/v1/sessions/{args.session_id}")
    emit(args, found, "\n".join(f"{k}: {v}" for k, v in found.items()))
    return 0


def revoke_session(args: argparse.Namespace) -> int:
    """Revoke a session now."""
    found = client(args, args.as_staff).call("DELETE", f"/v1/sessions/{args.session_id}")
    emit(args, found, f"session {found['session_id']} {found['state']}")
    return 0


def resume_session(args: argparse.Namespace) -> int:
    """A fresh single-use viewer link (after a reload or a dropped connection)."""
    return _link_command(args, "resume", "viewer link")


def watch_session(args: argparse.Namespace) -> int:
    """A single-use read-only link (ops, or the ticket org's customer admin)."""
    return _link_command(args, "watch", "read-only watch link")


def _link_command(args: argparse.Namespace, action: str, what: str) -> int:
    path = f"/v1/sessions/{identifier(args.session_id, 'session_id')}/{action}"
    link = client(args, args.as_staff).call("POST", path)
    url = link["viewer_url"]
    text = f"{what} for session {link['session_id']} (single use, 60 s):\n{url}"
    return show_link(args, link, text, url)
