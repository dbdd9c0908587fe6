"""The contract every ``AuditAnchor`` passes (store-backed, KMS-signed in CloudWatch).

A chain is (region, writer): each writer of a region numbers and reads its own anchors.

Subclass ``AnchorContract`` in a ``test_*.py`` module and implement
``open_anchor``; the anchors it returns must serve ``EU`` and ``US``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.audit.anchor import AuditAnchor
from broker.models import Anchor
from broker.typing import Region, WriterId

EU = Region("eu-central-1")
US = Region("us-east-1")
MAIN = WriterId("main")
REPLICA = WriterId("eu-central-1-a1b2")


def anchor(
    region: Region, number: int, seq: int, *, final: bool = False, writer: WriterId = MAIN
) -> Anchor:
    """An anchor of ``writer``'s chain whose fields all derive from ``number`` and ``seq``."""
    return Anchor(
        region, number, seq, f"{seq:064x}", 1 + seq // 100, seq % 100, seq * 180,
        f"2026-12-04T10:00:{number % 60:02d}.000000Z", final, writer,
    )  # fmt: skip


class AnchorContract:
    """What ``put`` and ``latest`` promise, whatever keeps the anchors."""

    async def open_anchor(self, tmp_path: Path) -> AuditAnchor:
        """A fresh, empty anchor place for ``EU`` and ``US``."""
        raise NotImplementedError

    @pytest.fixture
    async def place(self, tmp_path: Path) -> AsyncIterator[AuditAnchor]:
        """The implementation under test."""
        yield await self.open_anchor(tmp_path)
        await self.close_anchor()

    async def close_anchor(self) -> None:
        """Release what ``open_anchor`` opened."""

    async def test_a_region_never_anchored_has_none(self, place: AuditAnchor) -> None:
        """``latest`` of a region without anchors is None, not an error."""
        assert await place.latest(EU, MAIN) is None

    async def test_every_field_round_trips(self, place: AuditAnchor) -> None:
        """What was put is what ``latest`` returns, the final flag included."""
        put = anchor(EU, 1, 17, final=True)
        await place.put(put)
        assert await place.latest(EU, MAIN) == put

    async def test_latest_is_the_highest_number(self, place: AuditAnchor) -> None:
        """Anchors are appended; the newest is the one with the highest number."""
        for number, seq in ((1, 0), (2, 5), (3, 5), (4, 9)):
            await place.put(anchor(EU, number, seq, final=number == 3))
        assert await place.latest(EU, MAIN) == anchor(EU, 4, 9)

    async def test_regions_are_kept_apart(self, place: AuditAnchor) -> None:
        """One region's anchors never answer for another's."""
        await place.put(anchor(EU, 1, 3))
        await place.put(anchor(US, 1, 8))
        await place.put(anchor(EU, 2, 4))
        assert (await place.latest(EU, MAIN), await place.latest(US, MAIN)) == (
            anchor(EU, 2, 4),
            anchor(US, 1, 8),
        )

    async def test_writers_of_a_region_are_kept_apart(self, place: AuditAnchor) -> None:
        """Each writer numbers its own chain's anchors from 1; neither answers for the other."""
        await place.put(anchor(EU, 1, 3))
        await place.put(anchor(EU, 1, 5, writer=REPLICA))
        await place.put(anchor(EU, 2, 9, writer=REPLICA))
        assert (await place.latest(EU, MAIN), await place.latest(EU, REPLICA)) == (
            anchor(EU, 1, 3),
            anchor(EU, 2, 9, writer=REPLICA),
        )
        assert await place.latest(US, REPLICA) is None

    async def test_writers_anchor_at_once_without_contention(self, place: AuditAnchor) -> None:
        """Two writers putting their anchors concurrently both succeed, every one kept."""
        other = WriterId("eu-central-1-c3d4")

        async def run(writer: WriterId) -> None:
            for number in range(1, 6):
                await place.put(anchor(EU, number, number * 2, writer=writer))

        await asyncio.gather(run(REPLICA), run(other))
        for writer in (REPLICA, other):
            assert await place.latest(EU, writer) == anchor(EU, 5, 10, writer=writer)

    async def test_writers_lists_every_anchored_chain_of_a_region(self, place: AuditAnchor) -> None:
        """Each writer with an anchor in the region, once, sorted; other regions' apart."""
        assert await place.writers(EU) == []
        await place.put(anchor(EU, 1, 3))
        await place.put(anchor(EU, 1, 5, writer=REPLICA))
        await place.put(anchor(EU, 2, 6, writer=REPLICA))
        await place.put(anchor(US, 1, 1, writer=WriterId("us-east-1-x")))
        assert await place.writers(EU) == [REPLICA, MAIN]
        assert await place.writers(US) == ["us-east-1-x"]
