"""Contract: the unit registry (who serves a region, which unit holds a session)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from broker.errors import UnavailableError
from broker.store.base import Store
from broker.store.units import UnitRecord
from broker.typing import SessionId, UnitId
from tests.store.contract_base import StoreHarness
from tests.store.world import EU, US


def unit(name: str = "eu-a", **changes: object) -> UnitRecord:
    """An EU unit record with a healthy storage, started and beating at 1000 ms."""
    record = UnitRecord(
        EU, UnitId(name), "192.0.2.1:2222", "http://192.0.2.1:8080",
        "ssh-ed25519 AAAAC3Nza", 1000, 1000, True,
    )  # fmt: skip
    return replace(record, **changes)  # type: ignore[arg-type]  # test builder: fields by name


class UnitRegistryContract(StoreHarness):
    """Registering, heartbeating and listing units; holding sessions."""

    async def test_put_then_list_returns_the_record(self, empty: Store) -> None:
        """A registered unit is listed in its region exactly as put."""
        await empty.put_unit(unit())
        assert await empty.list_units(EU) == [unit()]

    async def test_heartbeat_replaces_the_record(self, empty: Store) -> None:
        """A second put of one unit id replaces its record (heartbeat, storage health)."""
        await empty.put_unit(unit())
        await empty.put_unit(unit(heartbeat_at=5000, storage_ok=False))
        assert await empty.list_units(EU) == [unit(heartbeat_at=5000, storage_ok=False)]

    async def test_units_listed_per_region_by_id(self, empty: Store) -> None:
        """A region lists only its own units, ordered by id."""
        await empty.put_unit(unit("eu-b"))
        await empty.put_unit(unit("eu-a"))
        await empty.put_unit(unit("us-a", region=US))
        assert [u.unit_id for u in await empty.list_units(EU)] == ["eu-a", "eu-b"]
        assert [u.unit_id for u in await empty.list_units(US)] == ["us-a"]

    async def test_held_sessions_follow_the_latest_login(self, empty: Store) -> None:
        """A session held by one unit and then accepted by another is listed only there."""
        await empty.hold_session(SessionId("s-1"), EU, UnitId("eu-a"))
        await empty.hold_session(SessionId("s-2"), EU, UnitId("eu-a"))
        await empty.hold_session(SessionId("s-1"), EU, UnitId("eu-b"))
        assert await empty.held_sessions(EU, UnitId("eu-a")) == ["s-2"]
        assert await empty.held_sessions(EU, UnitId("eu-b")) == ["s-1"]

    async def test_unreachable_store_fails_closed(self, unreachable: Store) -> None:
        """Registry calls on a store that cannot be reached raise ``UnavailableError``."""
        with pytest.raises(UnavailableError):
            await unreachable.list_units(EU)
