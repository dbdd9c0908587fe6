"""Tests for keeping full garbage collections short."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from broker.runtime.gc_pauses import freeze_startup_objects


class _Node:
    """Something that can sit in a reference cycle and be weakly referenced."""

    partner: _Node | None = None


@pytest.fixture
def thawed() -> Iterator[None]:
    """Undo the freeze afterwards, so the rest of the test run is collected as usual."""
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("thawed")
class TestFreezeStartupObjects:
    """``freeze_startup_objects``."""

    def test_objects_alive_now_leave_the_collector(self) -> None:
        """What is alive at the call is no longer among the objects a collection walks."""
        alive = _Node()
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
        assert not any(o is alive for o in gc.get_objects())

    def test_cycles_made_later_are_still_collected(self) -> None:
        """A reference cycle made after the freeze is freed by the next collection."""
        freeze_startup_objects()
        node = _Node()
        node.partner = node
        ref = weakref.ref(node)
        del node
        gc.collect()
        assert ref() is None
