"""The Transfer Impact Assessment, built only from a verified audit trail.

``build_tia`` is pure: it folds audit records (already redacted, ids only)
into the report a data-protection officer reads; ``render_markdown`` words it.
The JSON shape is stable and documented in ``docs/tia.md``; change it only by
adding keys.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TIA_VERSION = 1
BASIS_WORDS: Mapping[str, str] = {
    "intra-eea": "within the EEA (no transfer)",
    "adequacy": "EU adequacy decision (GDPR Art. 45)",
    "scc": "standard contractual clauses (GDPR Art. 46(2)(c))",
    "consent": "the customer's explicit consent for the ticket",
    "not-eea": "not an EEA ticket (data stays in its region)",
}


@dataclass(frozen=True, slots=True)
class TiaScope:
    """Whose report, for which period, and where the evidence lives."""

    org_id: str
    region: str
    tier: str
    start: datetime
    end: datetime
    storage: Mapping[str, str]


def _access_rows(issued: list[dict[str, Any]], seconds: Mapping[str, int]) -> list[dict[str, Any]]:
    """Accesses grouped by (staff country, basis) with counts, time and consent ids."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for record in issued:
        key = (str(record.get("staff_country", "??")), str(record.get("basis", "unknown")))
        row = groups.setdefault(key, {"sessions": 0, "session_seconds": 0, "consent_ids": set()})
        row["sessions"] += 1
        row["session_seconds"] += seconds.get(str(record.get("session_id")), 0)
        if record.get("consent_id"):
            row["consent_ids"].add(record["consent_id"])
    return [
        {"staff_country": country, "basis": basis, "sessions": row["sessions"],
         "session_seconds": row["session_seconds"], "consent_ids": sorted(row["consent_ids"])}
        for (country, basis), row in sorted(groups.items())
    ]  # fmt: skip


def _waivers(by_event: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Consents that waived EEA-only support, each with the sessions it allowed.

    Listed on their own: each is the customer letting staff from outside the
    EEA into support it bought as EEA-only.
    """
    revoked = {r.get("consent_id") for r in by_event["consent.revoked"]}
    sessions = Counter(r.get("consent_id") for r in by_event["session.issued"])
    return [
        {"consent_id": r.get("consent_id"), "ticket_id": r.get("ticket_id"),
         "staff_id": r.get("staff_id"), "granted_by": r.get("actor"),
         "granted_at": r.get("time"), "expires_at": r.get("expires_at"),
         "revoked": r.get("consent_id") in revoked, "sessions": sessions[r.get("consent_id")]}
        for r in by_event["consent.granted"]
        if r.get("waives_eea_only") is True
    ]  # fmt: skip


def _watches(
    by_event: Mapping[str, list[dict[str, Any]]], kind: str = "watch"
) -> list[dict[str, Any]]:
    """Every read-only live watch (or replay), by whom (id), of which session, when,
    how long.

    A watch is someone looking over the engineer's shoulder at the customer's
    data, and a replay someone looking at it afterwards, so the report names
    each one; an end not yet in the period leaves ``ended_at`` null."""
    ended: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for record in by_event[f"viewer.{kind}_ended"]:
        ended[(record.get("session_id"), record.get("actor"))].append(record)
    rows = []
    for start in by_event[f"viewer.{kind}_started"]:
        ends = ended[(start.get("session_id"), start.get("actor"))]
        end = ends.pop(0) if ends else {}
        rows.append(
            {"session_id": start.get("session_id"), "ticket_id": start.get("ticket_id"),
             "watcher": start.get("actor"), "started_at": start.get("time"),
             "ended_at": end.get("time"), "seconds": end.get("duration_s")}
        )  # fmt: skip
    return rows


REQUEST_OUTCOMES: Mapping[str, str] = {
    "consent.request_approved": "approved",
    "consent.request_denied": "denied",
    "consent.request_cancelled": "cancelled",
    "consent.request_expired": "expired",
}
"""The event that ends a consent request -> the outcome the report names."""


def _requests(by_event: Mapping[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every consent request made in the period and how it ended (``pending``: not yet).

    The customer sees each time support asked to reach its data from where
    only its consent allows, whether or not it said yes: ids, countries and
    durations only (the request's reason text is never in the trail)."""
    ends: dict[Any, tuple[str, dict[str, Any]]] = {}
    for event, outcome in REQUEST_OUTCOMES.items():
        for record in by_event[event]:
            ends[record.get("consent_request_id")] = (outcome, record)
    rows = []
    for asked in by_event["consent.requested"]:
        outcome, end = ends.get(asked.get("consent_request_id"), ("pending", {}))
        rows.append(
            {"consent_request_id": asked.get("consent_request_id"),
             "ticket_id": asked.get("ticket_id"), "staff_id": asked.get("staff_id"),
             "staff_country": asked.get("staff_country"), "requested_at": asked.get("time"),
             "requested_seconds": asked.get("requested_s"), "outcome": outcome,
             "decided_by": end.get("actor"), "decided_at": end.get("time"),
             "granted_seconds": end.get("granted_s"), "consent_id": end.get("consent_id")}
        )  # fmt: skip
    return rows


def build_tia(scope: TiaScope, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The report over ``records`` of ``scope.org_id`` (from its region's verified chain)."""
    by_event: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get("org_id") == scope.org_id:
            by_event[str(record["event"])].append(dict(record))
    seconds = {
        str(r.get("session_id")): int(r.get("duration_s", 0)) for r in by_event["session.closed"]
    }
    denials: Counter[str] = Counter(
        reason for r in by_event["session.denied"] for reason in r.get("reasons", [])
    )
    blocked: Counter[str] = Counter(str(r.get("kind")) for r in by_event["egress.blocked"])
    excluded = Counter(
        str(r.get("scope")) for r in by_event["session.requested"]
        if r.get("tier") == "eea_only" and r.get("scope") not in (None, "product")
    )  # fmt: skip
    return {
        "tia_version": TIA_VERSION,
        "org_id": scope.org_id,
        "region": scope.region,
        "tier": scope.tier,
        "period": {"from": scope.start.isoformat(), "to": scope.end.isoformat()},
        "storage": dict(scope.storage),
        "chain_verified": True,
        "accesses": _access_rows(by_event["session.issued"], seconds),
        "denials_by_reason": dict(sorted(denials.items())),
        "egress_blocked_by_kind": dict(sorted(blocked.items())),
        "excluded_scopes": dict(sorted(excluded.items())),
        "consents": {
            "granted": len(by_event["consent.granted"]),
            "revoked": len(by_event["consent.revoked"]),
        },
        "eea_only_waivers": _waivers(by_event),
        "watches": _watches(by_event),
        "replays": _watches(by_event, "replay"),
        "consent_requests": _requests(by_event),
    }


def render_markdown(tia: Mapping[str, Any]) -> str:
    """The report as Markdown for a data-protection officer."""
    lines = [
        f"# Transfer Impact Assessment: {tia['org_id']}",
        "",
        f"Period: {tia['period']['from']} to {tia['period']['to']}. "
        f"Built from the audit trail of region **{tia['region']}**, whose hash chain was "
        "verified intact before this report was produced.",
        "",
        "## Where your data and its evidence live",
        "",
        f"- Customer data region: **{tia['region']}**; support tier: **{tia['tier']}**.",
        *(f"- {name.capitalize()}: `{where}`" for name, where in tia["storage"].items()),
        "- Support staff only *view* data through a terminal relayed inside the region; "
        "file transfer, port forwarding and clipboard channels are blocked.",
        "",
        "## Who accessed it, from where, on what legal basis",
        "",
    ]
    lines += _access_table(tia["accesses"])
    lines += ["", "## Requests that were refused", ""]
    lines += _counts(tia["denials_by_reason"], "reason", "No request was refused.")
    lines += ["", "## Attempts to move data out that the gateway blocked", ""]
    lines += _counts(tia["egress_blocked_by_kind"], "kind", "No egress attempt was seen.")
    lines += ["", "## Work outside EEA-only support (contractual exclusions)", ""]
    lines += _counts(tia["excluded_scopes"], "ticket scope", "None: every request was in scope.")
    lines += ["", "## Consents that waived EEA-only support", ""]
    lines += _waiver_table(tia.get("eea_only_waivers", []))
    lines += ["", "## Who watched sessions live (read-only)", ""]
    lines += _watch_table(tia.get("watches", []))
    lines += ["", "## Who replayed recordings (as pixels, in the region)", ""]
    lines += _watch_table(tia.get("replays", []), "Nobody replayed a recording in this period.")
    lines += ["", "## Consent requests from support staff", ""]
    lines += _request_table(tia.get("consent_requests", []))
    lines += [
        "",
        f"Consents granted: {tia['consents']['granted']}; revoked: {tia['consents']['revoked']}.",
        "",
    ]
    return "\n".join(lines)


def _access_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["No session was opened in this period."]
    table = [
        "| staff country | legal basis | sessions | total time | consents |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        minutes = round(row["session_seconds"] / 60, 1)
        consents = ", ".join(row["consent_ids"]) or "-"
        basis = BASIS_WORDS.get(row["basis"], row["basis"])
        table.append(
            f"| {row['staff_country']} | {basis} | {row['sessions']} | {minutes} min | {consents} |"
        )
    return table


def _waiver_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["None: no consent let staff from outside the EEA into EEA-only support."]
    table = [
        "| consent | ticket | staff | granted by | granted | expires | revoked | sessions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        revoked = "yes" if row["revoked"] else "no"
        table.append(
            f"| {row['consent_id']} | {row['ticket_id']} | {row['staff_id']} | "
            f"{row['granted_by']} | {row['granted_at']} | {row['expires_at']} | {revoked} | "
            f"{row['sessions']} |"
        )
    return table


def _watch_table(
    rows: list[dict[str, Any]], empty: str = "Nobody watched a session in this period."
) -> list[str]:
    if not rows:
        return [empty]
    table = [
        "| watcher | session | ticket | started | ended | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ended = row["ended_at"] or "still watching"
        seconds = "-" if row["seconds"] is None else row["seconds"]
        table.append(
            f"| {row['watcher']} | {row['session_id']} | {row['ticket_id']} | "
            f"{row['started_at']} | {ended} | {seconds} |"
        )
    return table


def _request_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["None: no support engineer asked for your consent in this period."]
    table = [
        "| request | ticket | staff | country | asked | hours asked | outcome | by | decided |"
        " hours granted | consent |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row["consent_request_id"], row["ticket_id"], row["staff_id"], row["staff_country"],
            row["requested_at"], _hours(row["requested_seconds"]), row["outcome"],
            row["decided_by"] or "-", row["decided_at"] or "-",
            _hours(row["granted_seconds"]), row["consent_id"] or "-",
        ]  # fmt: skip
        table.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return table


def _hours(seconds: Any) -> str:
    return "-" if seconds is None else f"{round(int(seconds) / 3600, 2):g}"


def _counts(values: Mapping[str, int], label: str, empty: str) -> list[str]:
    if not values:
        return [empty]
    return [f"| {label} | count |", "|---|---|", *(f"| {k} | {n} |" for k, n in values.items())]
