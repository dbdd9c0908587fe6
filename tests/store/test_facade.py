"""The shared facade: both stores are one ``ThreadedStore`` over their own backend functions."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from broker.aws.dynamodb.store import OPS as DYNAMO_OPS
from broker.aws.dynamodb.store import DynamoStore
from broker.store.base import Store
from broker.store.facade import StoreOps, ThreadedStore
from broker.store.sqlite.store import OPS as SQLITE_OPS
from broker.store.sqlite.store import SqliteStore

STORE_METHODS = {
    name for name, _ in inspect.getmembers(Store, inspect.isfunction) if not name.startswith("_")
}
OWN = {"ping", "close", "grant_records", "create_session"}
"""What each store implements itself: its backend's health, shutdown and grant path."""


class TestThreadedStore:
    """One facade serves both stores; each backend fills the same ``StoreOps`` table."""

    @pytest.mark.parametrize("store", [SqliteStore, DynamoStore])
    def test_every_store_method_is_implemented(self, store):
        """Every ``Store`` operation is on the class, none left abstract."""
        assert set(dir(store)) >= STORE_METHODS
        assert not inspect.isabstract(store)

    @pytest.mark.parametrize("store", [SqliteStore, DynamoStore])
    def test_only_the_backend_specific_operations_are_the_store_s_own(self, store):
        """The delegations live once, in ``ThreadedStore``; a store adds only its own parts."""
        own = {name for name in STORE_METHODS if name in vars(store)}
        assert own <= OWN | {"recent_grant_records"}
        assert issubclass(store, ThreadedStore)

    @pytest.mark.parametrize("ops", [SQLITE_OPS, DYNAMO_OPS], ids=["sqlite", "dynamodb"])
    def test_ops_cover_every_delegated_operation(self, ops):
        """Each ``StoreOps`` field is a ``Store`` operation, and all of them are filled."""
        fields = {f.name for f in dataclasses.fields(StoreOps)}
        assert fields == STORE_METHODS - OWN - {"recent_grant_records"}
        assert all(callable(getattr(ops, name)) for name in fields)
