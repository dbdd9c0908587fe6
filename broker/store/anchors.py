"""The audit anchors in both stores: an append-only list per region.

One writer per region numbers its anchors 1, 2, 3...; a second row with a
number already taken is refused (``ConflictError``), and nothing updates or
deletes a row (in SQLite triggers refuse it), so the newest anchor of a region
is its row with the highest number. Each store keeps them its own way
(``broker.store.sqlite.anchors``, ``broker.aws.dynamodb.anchors``); the
fields and their decoding are shared here.
"""

from __future__ import annotations

from typing import Any

from broker.models import Anchor
from broker.typing import Region

ANCHOR_FIELDS = ("region", "number", "seq", "hash", "segment", "line", "offset", "time", "final")
"""An anchor's fields, in the SQLite column order."""


def anchor_from_row(row: dict[str, Any]) -> Anchor:
    """An ``Anchor`` from a row or item holding ``ANCHOR_FIELDS``."""
    return Anchor(
        Region(str(row["region"])), int(row["number"]), int(row["seq"]), str(row["hash"]),
        int(row["segment"]), int(row["line"]), int(row["offset"]), str(row["time"]),
        bool(row["final"]),
    )  # fmt: skip
