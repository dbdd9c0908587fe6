"""The unit registry in both stores: which regional units serve, and which holds a session.

A regional unit (``broker region``) upserts its ``UnitRecord`` at start and
on every heartbeat; the control plane reads the records of a region to pick a
live, healthy unit for a new session. When a unit's gateway accepts a login it
records itself as the session's holder, so a survivor can close the sessions of
a unit that died. Each store keeps them its own way
(``broker.store.sqlite.units``, ``broker.aws.dynamodb.units``); the record,
its fields and their decoding are shared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from broker.typing import Region, UnitId


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One regional unit as it announces itself (times in epoch milliseconds)."""

    region: Region
    unit_id: UnitId
    ssh: str
    """The SSH address clients are sent to (``host:port``; an NLB's when advertised)."""
    viewer: str
    """The region's browser viewer URL at this unit (``http://host:port``)."""
    host_key: str
    """The region's gateway host key (OpenSSH public line), the same on every replica."""
    started_at: int
    heartbeat_at: int
    storage_ok: bool
    """The unit's last check of its region's storage (recordings, audit) found it writable."""

    def live(self, now_ms: int, bound_ms: int) -> bool:
        """Heartbeat within ``bound_ms`` of ``now_ms``."""
        return now_ms - self.heartbeat_at <= bound_ms


UNIT_FIELDS = (
    "region", "unit_id", "ssh", "viewer", "host_key", "started_at", "heartbeat_at", "storage_ok",
)  # fmt: skip
"""A unit record's fields, in the SQLite column order."""


def unit_from_row(row: dict[str, Any]) -> UnitRecord:
    """A ``UnitRecord`` from a row or item holding ``UNIT_FIELDS``."""
    return UnitRecord(
        Region(str(row["region"])), UnitId(str(row["unit_id"])), str(row["ssh"]),
        str(row["viewer"]), str(row["host_key"]), int(row["started_at"]),
        int(row["heartbeat_at"]), bool(row["storage_ok"]),
    )  # fmt: skip
