"""``broker recording show|play|export``: session recordings for ops and admins.

``show`` and ``play`` work on the state folder alone (no running broker): the
recording is found under ``<state>/regions/*/recordings/<session-id>.cast``
(or only in ``--region``'s folder), its region is the folder's, and a header
naming another region is refused. ``play`` writes the output to this terminal
through the egress filter, so even an old or tampered recording cannot put
a clipboard write or file transfer on the viewer's terminal; it refuses a
recording of an EEA region (or of a region the policy does not know), whose
text stays in its region and is replayed there as pixels. ``show`` prints
metadata and our own markers only, never the recorded text.

``view`` asks the API for a single-use link that replays the recording in its
region's viewer, as pixels (ops, or the ticket org's customer admin).
``export`` asks the API (as an admin) for a legal-hold copy: the instance
serving the session's region writes it into that region's storage and
answers where it is, never its bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from broker.api.recordings import in_region_only
from broker.cli.client import state_dir
from broker.cli.common import add_instance_options, client, emit
from broker.cli.session import show_link
from broker.config import load_config
from broker.policy import PolicyConfig
from broker.recording.files import Marker, RecordingInfo, iter_events, locate, read_info
from broker.recording.replay import replay
from broker.validate import identifier


def register(subparsers: Any) -> None:
    """Add ``broker recording show``, ``play`` and ``export``."""
    group = subparsers.add_parser("recording", help="show and replay session recordings")
    commands = group.add_subparsers(dest="recording_command", metavar="COMMAND", required=True)
    show = commands.add_parser("show", help="print a recording's metadata and markers")
    _common(show)
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=run_show)
    play = commands.add_parser("play", help="replay a recording in this terminal (filtered)")
    _common(play)
    play.add_argument("--speed", type=_positive, default=1.0, help="speed factor (default 1)")
    play.add_argument(
        "--max-wait",
        type=_non_negative,
        default=2.0,
        metavar="S",
        help="longest pause between events, seconds (default 2)",
    )
    play.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="broker config whose policy says which regions are EEA",
    )
    play.set_defaults(handler=run_play)
    view = commands.add_parser(
        "view", help="replay a recording in its region's viewer (prints a single-use link)"
    )
    view.add_argument("session_id", metavar="SESSION_ID", help="the session's id")
    view.add_argument(
        "--open", dest="open_browser", action="store_true", help="open the viewer in a browser"
    )
    add_instance_options(view)
    view.set_defaults(handler=run_view)
    export = commands.add_parser(
        "export", help="admin: copy a recording for a legal hold into its region's storage"
    )
    export.add_argument("session_id", metavar="SESSION_ID", help="the session's id")
    export.add_argument("--hold", required=True, metavar="REF", help="the legal hold's reference")
    add_instance_options(export)
    export.set_defaults(handler=run_export)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session_id", metavar="SESSION_ID", help="the session's id")
    parser.add_argument("--region", metavar="REGION", help="look only in this region's folder")
    parser.add_argument("--state", metavar="DIR", help="state dir ($BROKER_STATE or ./var)")


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a finite number >= 0")
    return value


def run_show(args: argparse.Namespace) -> int:
    """Handler: print the recording's ids, terminal, counts and markers."""
    region, path = locate(state_dir(args.state), args.session_id, args.region)
    info = read_info(path, region)
    print(json.dumps(info.to_dict(), indent=2) if args.json else describe(info))
    return 0


def describe(info: RecordingInfo) -> str:
    """The human-readable ``show`` text."""
    data = info.to_dict()
    events = " ".join(f"{code}={n}" for code, n in sorted(info.counts.items())) or "none"
    lines = [f"{key:<13}{data.get(key)}" for key in _FIELDS if data.get(key) is not None]
    lines += [
        f"{'terminal':<13}{data['width']}x{data['height']} {data['term']}",
        f"{'duration':<13}{data['duration']}s",
        f"{'events':<13}{events}",
        f"{'status':<13}{info.final or 'open (no final marker yet)'}",
        f"markers ({len(info.markers)}):",
    ]
    return "\n".join(lines + [_marker_line(m) for m in info.markers])


_FIELDS = ("session_id", "region", "org_id", "ticket_id", "staff_id", "started", "record_input")


def _marker_line(marker: Marker) -> str:
    # Marker text is ours, but keep control characters off the terminal anyway.
    text = "".join(c if c.isprintable() else "?" for c in marker.text)
    return f"  {marker.time:>10.3f}  {text}"


def run_play(args: argparse.Namespace) -> int:
    """Handler: replay the output, filtered, at ``--speed`` with pauses capped."""
    region, path = locate(state_dir(args.state), args.session_id, args.region)
    read_info(path, region)  # refuses a header of another region before any output
    policy = PolicyConfig.from_mapping(load_config(args.config).policy if args.config else {})
    if policy.region_eea.get(region) is not False:
        raise in_region_only(args.session_id)
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()

    result = replay(iter_events(path), write, time.sleep, speed=args.speed, max_wait=args.max_wait)
    if result.blocked:
        print(
            f"\r\nbroker: {len(result.blocked)} sequence(s) removed by the egress filter",
            file=sys.stderr,
        )
    return 0


def run_view(args: argparse.Namespace) -> int:
    """Handler: a replay link for the recording, in its region's viewer."""
    path = f"/v1/sessions/{identifier(args.session_id, 'session_id')}/replay"
    link = client(args).call("POST", path)
    text = f"replay link for session {link['session_id']} (single use, 60 s):\n{link['viewer_url']}"
    return show_link(args, link, text, link["viewer_url"])


def run_export(args: argparse.Namespace) -> int:
    """Handler: ask for the legal-hold copy; print where it lies in the region."""
    path = f"/v1/sessions/{args.session_id}/recording/legal-hold"
    copy = client(args).call("POST", path, {"hold": args.hold})
    text = f"copied for hold {copy['hold']} in the session's region: {copy['location']}"
    emit(args, copy, f"{text}\n{'sha256':<8}{copy['sha256']}\n{'bytes':<8}{copy['bytes']}")
    return 0
