"""A service context over a real SQLite store with demo data and a real audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.audit import Auditor
from broker.ca import CARegistry
from broker.clock import FakeClock
from broker.config import Config
from broker.demo import demo_document
from broker.keys import LocalKeyStore
from broker.policy import PolicyConfig
from broker.service.audit import AuditService
from broker.service.context import Context
from broker.store.import_bundle import parse_bundle
from broker.store.sqlite.store import SqliteStore
from tests.api.conftest import START


@dataclass
class Services:
    """The context, its auditor and clock, and the audit service over them."""

    ctx: Context
    auditor: Auditor
    clock: FakeClock
    audit: AuditService


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    """Demo data in SQLite, the auditor as the event sink, a fake clock at ``START``."""
    clock = FakeClock(START)
    store = SqliteStore(tmp_path / "broker.db", clock=clock)
    await store.import_bundle(parse_bundle(demo_document()))
    auditor = Auditor(tmp_path, clock)
    cas = CARegistry(LocalKeyStore(tmp_path), clock)
    ctx = Context(
        Config(state_dir=tmp_path), store, cas, auditor, clock, PolicyConfig.from_mapping({})
    )
    yield Services(ctx, auditor, clock, AuditService(ctx, auditor))
    auditor.close()
    await store.close()
