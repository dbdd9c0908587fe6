"""The audit anchors in both stores: an append-only list per chain (region, writer).

Each chain's one writer numbers its anchors 1, 2, 3...; a second row with a
number its chain already has is refused (``ConflictError``), and nothing
updates or deletes a row (in SQLite triggers refuse it), so a chain's newest
anchor is its row with the highest number. Writers of one region number their
chains apart and never contend for a row. Each store keeps them its own way
(``broker.store.sqlite.anchors``, ``broker.aws.dynamodb.anchors``); the
fields and their decoding are shared here. Rows from before writers existed
have no writer: they are ``main``'s.
"""

from __future__ import annotations

from typing import Any

from broker.models import Anchor
from broker.state import MAIN_WRITER
from broker.typing import Region, WriterId

ANCHOR_FIELDS = (
    "region", "number", "seq", "hash", "segment", "line", "offset", "time", "final", "writer",
)  # fmt: skip
"""An anchor's fields, in the SQLite column order."""


def anchor_from_row(row: dict[str, Any]) -> Anchor:
    """An ``Anchor`` from a row or item holding ``ANCHOR_FIELDS`` (``writer`` may be missing)."""
    return Anchor(
        Region(str(row["region"])), int(row["number"]), int(row["seq"]), str(row["hash"]),
        int(row["segment"]), int(row["line"]), int(row["offset"]), str(row["time"]),
        bool(row["final"]), WriterId(str(row.get("writer", MAIN_WRITER))),
    )  # fmt: skip
