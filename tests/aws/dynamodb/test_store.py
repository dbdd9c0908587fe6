"""The DynamoDB store against a moto server: the shared contract, plus its own rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.aws.clients import ClientFactory
from broker.aws.dynamodb.cascade import CHUNK
from broker.aws.dynamodb.store import DynamoStore
from broker.clock import FakeClock
from broker.errors import InputError, NotFoundError
from broker.models import Staff
from broker.store.base import ImportBundle, SessionQuery, Store
from broker.typing import CountryCode, SessionId, StaffId
from tests.aws.moto_server import MotoServer
from tests.store.conftest import REGION, DynamoBacked, dynamo_store
from tests.store.contract import StoreContract
from tests.store.world import EU, STAFF_DE, T0, TARGET_DE, TICKET_DE, session, world


class TestDynamoStore(DynamoBacked, StoreContract):
    """``DynamoStore`` passes the store contract."""

    async def open_unreachable_store(self, tmp_path: Path) -> Store:
        """A store whose endpoint is a closed loopback port."""
        return dynamo_store("http://127.0.0.1:9")


@pytest.fixture
async def dynamo(dynamo_server: MotoServer) -> AsyncIterator[DynamoStore]:
    """A fresh table holding the fixed world."""
    store = dynamo_store(dynamo_server.url, clock=FakeClock(T0))
    store.create_table()
    await store.import_bundle(world())
    yield store
    await store.close()


class TestDynamoOnly:
    """What only the DynamoDB store has: transaction limits, pinning, shared tables."""

    async def test_keeps_no_revision(self, dynamo: DynamoStore) -> None:
        """Its grant records carry no revision, so an insert is never guarded by one."""
        records = await dynamo.grant_records(STAFF_DE.id, TICKET_DE.id, TARGET_DE.name, T0)
        assert records.revision is None
        assert dynamo.recent_grant_records(STAFF_DE.id, TICKET_DE.id, TARGET_DE.name, T0) is None
        # Any revision a caller passes is ignored, not compared: the insert goes through.
        assert await dynamo.create_session(session(), world_revision=12345) == session()

    async def test_cascade_larger_than_one_transaction(self, dynamo: DynamoStore) -> None:
        """Closing a ticket with more live sessions than one transaction holds revokes all."""
        count = 3 * CHUNK + 2
        for i in range(count):
            await dynamo.create_session(session(f"s-{i:03}"))
        result = await dynamo.set_ticket_status(TICKET_DE.id, "closed", T0)
        assert sorted(s.id for s in result.sessions) == [f"s-{i:03}" for i in range(count)]
        page = await dynamo.list_sessions(SessionQuery(ticket_id=TICKET_DE.id, limit=500))
        assert {s.state for s in page.items} == {"revoked"}

    async def test_oversized_import_refused_whole(self, dynamo: DynamoStore) -> None:
        """A bundle needing more than 100 transaction items names ``bundle``, writes nothing."""
        staff = [Staff(StaffId(f"bulk-{i}"), CountryCode("DE")) for i in range(120)]
        with pytest.raises(InputError) as caught:
            await dynamo.import_bundle(ImportBundle(staff=staff))
        assert caught.value.field == "bundle"
        with pytest.raises(NotFoundError):
            await dynamo.get_staff(StaffId("bulk-0"))

    def test_pinned_to_store_region(self, dynamo_server: MotoServer) -> None:
        """The store builds one client: DynamoDB in its own region."""
        clients = ClientFactory({REGION: dynamo_server.url}, max_attempts=1)
        DynamoStore(clients, REGION, "any-table")
        assert clients.built == [("dynamodb", REGION)]

    async def test_two_stores_share_revisions(self, dynamo: DynamoStore) -> None:
        """A change through one store (another API replica) is seen by the other's poll."""
        twin = DynamoStore(
            ClientFactory({REGION: dynamo.table.client.meta.endpoint_url}),
            REGION,
            dynamo.table.name,
        )
        try:
            rev, _ = await twin.ended_sessions(EU, 0)
            await dynamo.create_session(session())
            rev1, changed = await twin.ended_sessions(EU, rev)
            assert rev1 > rev
            assert changed == []  # a new session moves the revision; only ends are returned
            await twin.end_session(SessionId("sess-1"), "revoked", "ops", T0)
            rev2, changed = await dynamo.ended_sessions(EU, rev1)
            assert rev2 > rev1 > rev
            assert [s.state for s in changed] == ["revoked"]
        finally:
            await twin.close()
