"""AWS mode's upstream: inventory pins the host key, EC2 says where, a key per session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import pytest

from broker.aws.clients import ClientFactory
from broker.aws.targets import Ec2Targets
from broker.aws.upstream import Ec2Upstream
from broker.gateway.upstream import RelayRefused
from broker.models import Org, Session, Staff, Target, Ticket
from broker.store.base import ImportBundle
from broker.store.sqlite.store import SqliteStore
from broker.typing import CountryCode, OrgId, SessionId, StaffId, TargetName, TicketId
from tests.aws.conftest import EU, US, unique
from tests.aws.moto_server import MotoServer
from tests.aws.test_targets import launch

HOST_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


async def _world(tmp_path: Path, org_id: str) -> tuple[SqliteStore, Session]:
    """A store with one eu-central-1 org, its target record and a session on it."""
    store = SqliteStore(tmp_path / "db")
    org = Org(OrgId(org_id), EU, "standard")
    target = Target(org.id, TargetName("web"), EU, "inventory-host", 22, "support", HOST_KEY)
    ticket = Ticket(TicketId("T-1"), org.id, 2, "product")
    staff = Staff(StaffId("eng-1"), CountryCode("DE"))
    await store.import_bundle(ImportBundle([org], [staff], [ticket], [target]))
    now = datetime.now(UTC)
    session = Session(SessionId("s-1"), org.id, ticket.id, staff.id, target.name, EU,
                      "intra-eea", "issued", now, now + timedelta(minutes=5))  # fmt: skip
    return store, session


class TestEc2Upstream:
    """``Ec2Upstream.resolve``."""

    async def test_private_ip_fresh_key_pinned_host_key(
        self, tmp_path: Path, clients: ClientFactory, moto_eu: MotoServer, moto_us: MotoServer
    ) -> None:
        """Address from EC2 in the session's region, key pushed there, host key from inventory."""
        org_id = unique("org")
        made = launch(clients, EU, org_id, "web")
        store, session = await _world(tmp_path, org_id)
        us_mark = moto_us.mark()
        upstream = await Ec2Upstream(store, Ec2Targets(clients)).resolve(session, EU)
        assert upstream.host == made["PrivateIpAddress"]
        assert upstream.host_key.export_public_key().decode().strip() == HOST_KEY
        assert upstream.client_key.algorithm == b"ssh-ed25519"
        assert moto_us.since(us_mark) == []
        assert not list(tmp_path.glob("**/*id_*"))  # the session key is never written
        await store.close()

    async def test_no_instance_refuses(self, tmp_path: Path, clients: ClientFactory) -> None:
        """Without a running tagged instance the relay is refused, not guessed."""
        store, session = await _world(tmp_path, unique("org"))
        with pytest.raises(RelayRefused) as refused:
            await Ec2Upstream(store, Ec2Targets(clients)).resolve(session, EU)
        assert refused.value.reason == "target_unreachable"
        await store.close()

    async def test_other_region_gateway_refuses(
        self, tmp_path: Path, clients: ClientFactory
    ) -> None:
        """A us-east-1 gateway never resolves an eu-central-1 target."""
        org_id = unique("org")
        launch(clients, EU, org_id, "web")
        store, session = await _world(tmp_path, org_id)
        with pytest.raises(RelayRefused):
            await Ec2Upstream(store, Ec2Targets(clients)).resolve(session, US)
        await store.close()
