"""The harness every store contract class builds on.

An implementation's test module subclasses ``StoreContract`` and supplies two
factories: a fresh empty store, and a store whose backing system cannot be
reached. The fixtures here close whatever they open.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.store.base import Store
from tests.store.world import world


class StoreHarness(abc.ABC):
    """Factories an implementation provides, and the fixtures built on them."""

    @abc.abstractmethod
    async def open_store(self, tmp_path: Path) -> Store:
        """A fresh, empty store (tests may call this once per ``tmp_path``)."""

    @abc.abstractmethod
    async def open_unreachable_store(self, tmp_path: Path) -> Store:
        """A store whose backing system cannot be reached."""

    @pytest.fixture
    async def empty(self, tmp_path: Path) -> AsyncIterator[Store]:
        """A fresh store with nothing in it."""
        store = await self.open_store(tmp_path)
        yield store
        await store.close()

    @pytest.fixture
    async def store(self, empty: Store) -> Store:
        """A fresh store holding the fixed world of ``tests.store.world``."""
        await empty.import_bundle(world())
        return empty

    @pytest.fixture
    async def unreachable(self, tmp_path: Path) -> AsyncIterator[Store]:
        """A store that cannot reach its backing system."""
        store = await self.open_unreachable_store(tmp_path)
        yield store
        await store.close()
