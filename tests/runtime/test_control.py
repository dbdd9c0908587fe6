"""``broker.runtime.control``: the control plane's choice of a live, healthy unit per region."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.clock import FakeClock
from broker.runtime.control import UnitDirectory
from broker.service.context import GatewayAddress
from broker.store.sqlite.store import SqliteStore
from broker.store.units import UnitRecord
from broker.typing import Region, UnitId

EU = Region("eu-central-1")
US = Region("us-east-1")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)


def unit(name: str, port: int, **changes: object) -> UnitRecord:
    """An EU unit at ``127.0.0.1:port``, beating at T0, storage healthy."""
    record = UnitRecord(
        EU, UnitId(name), f"127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}",
        "ssh-ed25519 AAAA", T0_MS, T0_MS, True,
    )  # fmt: skip
    return replace(record, **changes)  # type: ignore[arg-type]  # test builder: fields by name


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """An empty SQLite store."""
    opened = SqliteStore(tmp_path / "broker.db")
    yield opened
    await opened.close()


class TestUnitDirectory:
    """Which unit the API sends a region's sessions to."""

    async def test_only_live_healthy_units_are_chosen(self, store: SqliteStore) -> None:
        """A stale heartbeat or unwritable storage rules a unit out; a region without units
        has no address (the grant fails closed)."""
        await store.put_unit(unit("dead", 2000, heartbeat_at=T0_MS - 3001))
        await store.put_unit(unit("sick", 3000, storage_ok=False))
        await store.put_unit(unit("good", 4000))
        gateways: dict[Region, GatewayAddress] = {}
        await UnitDirectory(store, FakeClock(T0), gateways, (EU, US), 3).refresh()
        assert gateways == {
            EU: GatewayAddress("127.0.0.1", 4000, "ssh-ed25519 AAAA", "http://127.0.0.1:4001")
        }

    async def test_dead_unit_is_dropped_and_survivor_kept(self, store: SqliteStore) -> None:
        """Once the chosen unit's heartbeat is past the bound the other takes over; a
        chosen unit stays chosen while it lives."""
        clock = FakeClock(T0)
        await store.put_unit(unit("a", 2000))
        gateways: dict[Region, GatewayAddress] = {}
        directory = UnitDirectory(store, clock, gateways, (EU,), 3)
        await directory.refresh()
        await store.put_unit(unit("b", 4000))
        await directory.refresh()
        assert gateways[EU].port == 2000
        clock.advance(4)
        await store.put_unit(unit("b", 4000, heartbeat_at=T0_MS + 4000))
        await directory.refresh()
        assert gateways[EU].port == 4000
        clock.advance(4)
        await directory.refresh()
        assert gateways == {}
