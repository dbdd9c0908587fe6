"""A moto server for the DynamoDB store's tests, and stores on fresh tables of it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.aws.clients import ClientFactory
from broker.aws.dynamodb.store import DynamoStore
from broker.clock import FakeClock
from broker.store.base import Store
from broker.typing import Region
from tests.aws.conftest import fake_aws
from tests.aws.moto_server import MotoServer
from tests.store.world import T0

REGION = Region("eu-central-1")
_TABLES = itertools.count()


@pytest.fixture(scope="module")
def dynamo_server() -> Iterator[MotoServer]:
    """One moto server per module, with fake credentials in the environment."""
    with fake_aws() as server:
        yield server


def dynamo_store(url: str, **kwargs: object) -> DynamoStore:
    """A store on a table name no other test uses (not created)."""
    clients = ClientFactory({REGION: url}, max_attempts=1, connect_timeout=1)
    return DynamoStore(clients, REGION, f"broker-{os.getpid()}-{next(_TABLES)}", **kwargs)  # type: ignore[arg-type]


class DynamoBacked:
    """Mixin for contract classes: ``open_store`` makes a store on a fresh table."""

    @pytest.fixture(autouse=True)
    def _server(self, dynamo_server: MotoServer) -> None:
        self.server = dynamo_server

    async def open_store(self, tmp_path: Path) -> Store:
        """A store on a fresh table of the moto server."""
        store = dynamo_store(self.server.url, clock=FakeClock(T0))
        store.create_table()
        return store
