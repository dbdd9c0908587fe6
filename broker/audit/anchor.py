"""Anchors: each chain's sealed head, kept where the chain's writer cannot reach.

The chain's hashes are unkeyed and ``HEAD``'s seal key lives in the same folder
as the chain, so whoever can write that folder can rewrite, truncate or extend
the chain and re-seal it. The anchor is what they cannot forge: after every
seal (every second) the auditor writes its chain's head to an ``AuditAnchor``
outside the folder, append-only. A chain is (region, writer): every writer
of a region anchors its own chain, numbered on its own, so writers never
contend for an anchor. ``StoreAnchor`` uses the control plane's store
(local mode: SQLite; DynamoDB works the same); AWS mode signs each anchor with
the region's KMS key and writes it to the region's CloudWatch Logs
(``broker.aws.anchor``).

What the anchor proves (``check_head``, and the verifier):

- the chain is at least as long as the anchor, and the anchored record is
  there with the anchored hash: truncation and rewriting are detected;
- records after the latest anchor are *unproven*: a crash's last second, or
  someone's appended records. A writer that opens such a chain seals them only
  after chaining an ``audit.tail_sealed`` event that says how many there were,
  and anchoring that; so a restart never silently launders a forged tail;
- a ``final`` anchor (clean stop) followed by more records is tampering: the
  broker wrote nothing after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from broker.audit.segments import Head, ends_with_hash, genesis, segment_name
from broker.models import Anchor
from broker.typing import Region, WriterId

TAIL_EVENT = "audit.tail_sealed"
"""The event that discloses a tail sealed at open: ``records`` after ``after_seq``."""


class AuditAnchor(Protocol):
    """Where the chains' anchors are kept: append-only, outside the writers' folders."""

    async def put(self, anchor: Anchor) -> None:
        """Append ``anchor``; raise ``UnavailableError`` if it cannot be kept."""
        ...

    async def latest(self, region: Region, writer: WriterId) -> Anchor | None:
        """The latest anchor of ``writer``'s chain of ``region``, or None if it has none.

        Raises ``UnavailableError`` when the anchors cannot be read or one
        is not genuine (a bad signature): never an answer that cannot be trusted."""
        ...

    async def writers(self, region: Region) -> list[WriterId]:
        """Every writer with anchors in ``region``, sorted: the chains the region must have.

        A chain folder deleted whole is missed by reading the folders; not by this."""
        ...


class AnchorRows(Protocol):
    """The part of the control plane's ``Store`` that keeps anchors.

    Named here so the audit package (below the store in the layers) needs
    only this, not the store's interface; every ``Store`` has it."""

    async def add_anchor(self, anchor: Anchor) -> None:
        """Append one anchor; ``ConflictError`` if its chain has its number already."""
        ...

    async def latest_anchor(self, region: Region, writer: WriterId) -> Anchor | None:
        """The chain's anchor with the highest number, or None."""
        ...

    async def anchor_writers(self, region: Region) -> list[WriterId]:
        """The writers with anchors in ``region``, sorted."""
        ...


class StoreAnchor:
    """``AuditAnchor`` in the control plane's store (``Store.add_anchor``/``latest_anchor``)."""

    def __init__(self, store: AnchorRows) -> None:
        self._store = store

    async def put(self, anchor: Anchor) -> None:
        """Append the anchor row (a duplicate ``number`` is refused: one writer per chain)."""
        await self._store.add_anchor(anchor)

    async def latest(self, region: Region, writer: WriterId) -> Anchor | None:
        """The row with the highest ``number`` of the chain (``region``, ``writer``)."""
        return await self._store.latest_anchor(region, writer)

    async def writers(self, region: Region) -> list[WriterId]:
        """The writers with rows in ``region``."""
        return await self._store.anchor_writers(region)


def anchor_of(head: Head, number: int, time: str, *, final: bool = False) -> Anchor:
    """The anchor for a sealed ``head`` (of the head's chain)."""
    return Anchor(
        Region(head.region), number, head.seq, head.hash, head.segment, head.line,
        head.offset, time, final, WriterId(head.writer),
    )  # fmt: skip


def unproven(directory: Path, head: Head, anchor: Anchor | None) -> int:
    """How many records after ``anchor`` the chain ending at ``head`` holds.

    Raises ``ValueError`` (the reason) when the chain contradicts the anchor."""
    if anchor is None:
        return head.seq
    if head.seq < anchor.seq:
        raise ValueError(f"truncated: the chain ends at seq {head.seq}, anchored at {anchor.seq}")
    if not _anchored_record_present(directory, anchor):
        raise ValueError(f"the anchored record (seq {anchor.seq}) is missing or changed")
    tail = head.seq - anchor.seq
    if tail and anchor.final:
        raise ValueError(f"{tail} records follow the final anchor of a clean stop")
    return tail


def _anchored_record_present(directory: Path, anchor: Anchor) -> bool:
    if anchor.seq == 0:
        return anchor.hash == genesis(anchor.region, anchor.writer)
    try:
        return ends_with_hash(directory / segment_name(anchor.segment), anchor.offset, anchor.hash)
    except OSError:
        return False
