"""The audit anchors in both stores: the anchor contract, and append-only rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from broker.audit.anchor import AuditAnchor, StoreAnchor
from broker.errors import ConflictError
from broker.store.base import Store
from broker.store.sqlite.store import DEFAULT_FILENAME, SqliteStore
from tests.audit.anchor_contract import EU, MAIN, AnchorContract, anchor
from tests.store.conftest import DynamoBacked


class _StoreBacked(AnchorContract):
    """``StoreAnchor`` over one store kind."""

    store: Store

    async def open_store(self, tmp_path: Path) -> Store:
        """A fresh store."""
        raise NotImplementedError

    async def open_anchor(self, tmp_path: Path) -> AuditAnchor:
        """``StoreAnchor`` over a fresh store."""
        self.store = await self.open_store(tmp_path)
        return StoreAnchor(self.store)

    async def close_anchor(self) -> None:
        """Close the store."""
        await self.store.close()

    async def test_a_number_is_taken_once(self, place: AuditAnchor) -> None:
        """A second anchor with the same number is refused: one writer per region."""
        await place.put(anchor(EU, 1, 3))
        with pytest.raises(ConflictError):
            await place.put(anchor(EU, 1, 4))
        assert await place.latest(EU, MAIN) == anchor(EU, 1, 3)


class TestSqliteAnchors(_StoreBacked):
    """Anchors in the SQLite store."""

    async def open_store(self, tmp_path: Path) -> Store:
        """A store file in the test's directory."""
        return SqliteStore(tmp_path / DEFAULT_FILENAME)

    async def test_rows_cannot_be_changed_or_deleted(
        self, place: AuditAnchor, tmp_path: Path
    ) -> None:
        """Triggers refuse UPDATE and DELETE on the anchors table."""
        await place.put(anchor(EU, 1, 3))
        conn = sqlite3.connect(tmp_path / DEFAULT_FILENAME)
        try:
            for statement in ("UPDATE audit_anchors SET seq = 1", "DELETE FROM audit_anchors"):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    conn.execute(statement)
        finally:
            conn.close()


class TestDynamoAnchors(DynamoBacked, _StoreBacked):
    """Anchors in the DynamoDB store (moto)."""
