"""A real broker API on an ephemeral loopback port, over a real SQLite store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from aiohttp.test_utils import TestClient, TestServer

from broker.api.app import create_app
from broker.api.protocol import answer_problems
from broker.audit import Auditor
from broker.auth.local import LocalAuthority
from broker.ca import CARegistry
from broker.clock import FakeClock
from broker.config import Config
from broker.demo import demo_document
from broker.events import MemorySink, TeeSink
from broker.keys import LocalKeyStore
from broker.metrics import Metrics
from broker.models import Target
from broker.policy import PolicyConfig
from broker.service.context import Context, GatewayAddress
from broker.store.base import ImportBundle
from broker.store.import_bundle import parse_bundle
from broker.store.sqlite.store import SqliteStore
from broker.typing import OrgId, Region, TargetName

# A Wednesday inside EEA support hours.
START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass
class Api:
    """A running API plus the handles tests poke at."""

    client: TestClient[Any, Any]
    authority: LocalAuthority
    events: MemorySink
    clock: FakeClock
    store: SqliteStore
    state: Path
    auditor: Auditor

    def token(self, subject: str, role: str = "engineer", org: str | None = None) -> dict[str, str]:
        """Authorization header for a freshly minted token."""
        return {"Authorization": f"Bearer {self.authority.mint_token(subject, role, org)}"}

    async def grant(
        self, staff: str, ticket: str, target: str = "app-1", *, view: bool = False, **extra: Any
    ) -> Any:
        """POST /v1/sessions as ``staff``: a terminal, or with ``view`` the viewer (no key)."""
        body = {"ticket_id": ticket, "target": target, **extra}
        if not view:
            body["public_key"] = public_key()
        return await self.client.post("/v1/sessions", json=body, headers=self.token(staff))


def public_key() -> str:
    """A fresh Ed25519 public key line."""
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def demo_targets() -> list[Target]:
    """One target per demo org, in the org's region."""
    orgs = parse_bundle(demo_document()).orgs
    return [
        Target(OrgId(o.id), TargetName("app-1"), o.region, "127.0.0.1", 22, "support") for o in orgs
    ]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """The API over demo data, with a fake clock and an in-memory event sink."""
    async with running_api(tmp_path) as running:
        yield running


@contextlib.asynccontextmanager
async def running_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The ``api`` fixture's server, for tests that need it on their own terms."""
    clock = FakeClock(START)
    store = SqliteStore(tmp_path / "broker.db", clock=clock)
    await store.import_bundle(parse_bundle(demo_document()))
    await store.import_bundle(ImportBundle(targets=demo_targets()))
    events = MemorySink()
    auditor = Auditor(tmp_path, clock)
    cas = CARegistry(LocalKeyStore(tmp_path), clock)
    config = Config(state_dir=tmp_path)
    # The EU region's gateway and viewer (view sessions get a link to it; nothing listens).
    gateways = {
        Region("eu-central-1"): GatewayAddress("127.0.0.1", 2222, None, "http://127.0.0.1:2223")
    }
    sink = TeeSink(events, auditor)
    ctx = Context(config, store, cas, sink, clock, PolicyConfig.from_mapping({}), gateways)
    ctx.redactor = auditor.redactor
    authority = LocalAuthority.from_state(tmp_path, clock=clock)
    client = TestClient(
        TestServer(create_app(ctx, authority, auditor, Metrics()), host="127.0.0.1")
    )
    await client.start_server()
    answer_problems(client.server.runner.server)
    yield Api(client, authority, events, clock, store, tmp_path, auditor)
    await client.close()
    auditor.close()
    await store.close()


def soon(clock: FakeClock, minutes: int = 30) -> str:
    """An ISO time ``minutes`` after the fake clock's now."""
    return (clock.now() + timedelta(minutes=minutes)).isoformat()
