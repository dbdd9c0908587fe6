"""Fixtures of the audit tests: a fake clock, a state dir and an auditor on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker.audit import Auditor, ChainConfig
from broker.audit.anchor import StoreAnchor
from broker.clock import FakeClock
from broker.store.sqlite.store import SqliteStore

REGION = "eu-central-1"


@pytest.fixture
def clock():
    return FakeClock(datetime(2025, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state"


@pytest.fixture
def make_auditor(state, clock):
    """Build auditors on the shared state dir; all are closed at the end."""
    made = []

    def make(anchor=None, writer="main", **config):
        auditor = Auditor(state, clock, config=ChainConfig(**config), anchor=anchor, writer=writer)
        made.append(auditor)
        return auditor

    yield make
    for auditor in made:
        auditor.close()


@pytest.fixture
async def anchors(state):
    """Anchors in the state folder's store file, where ``broker audit verify`` reads them."""
    state.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(state / "broker.db")
    yield StoreAnchor(store)
    await store.close()


def fill(auditor, count, region=REGION):
    """Emit ``count`` varied events into ``region``."""
    for i in range(count):
        auditor.emit(
            "session.issued", region=region, session_id=f"s-{i}", ticket_id=f"T-{i % 7}",
            org_id="org-1", staff_id="st-1", staff_country="IN", basis="scc",
            source_ip="192.0.2.10",
        )  # fmt: skip
