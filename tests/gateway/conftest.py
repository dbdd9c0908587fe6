"""A real gateway on an ephemeral loopback port, relaying to a real sshd.

One sshd (trusting the gateway's client key) serves the whole test session;
each test gets its own SQLite store, CA, clock, event sink and gateway.
The clock is a ``FakeClock`` started at the real time: certificates stay
valid for OpenSSH and asyncssh, and tests move the gateway's time by hand to
reach expiry or idle timeouts without sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from broker.ca import RegionCA, new_serial
from broker.clock import FakeClock, SystemClock
from broker.events import MemorySink
from broker.gateway.gateway import Gateway
from broker.gateway.hooks import FilterFactory, RecorderFactory, identity_filter, null_recorder
from broker.gateway.keys import GatewayKeys, load_gateway_keys
from broker.gateway.settings import GatewaySettings
from broker.models import Org, Session, Staff, Target, Ticket
from broker.store.base import ImportBundle
from broker.store.sqlite.store import SqliteStore
from broker.typing import AccessMode, OrgId, Region, SessionId, StaffId, TargetName, TicketId
from tests.fixtures import openssh
from tests.fixtures.openssh import Endpoint, Identity, Result
from tests.fixtures.sshd import Sshd, sshd_server

REGION = Region("eu-central-1")
OTHER = Region("us-east-1")
ORG, OTHER_ORG = OrgId("org-de"), OrgId("org-us")
STAFF = StaffId("staff-1")
TICKET, OTHER_TICKET = TicketId("ticket-de"), TicketId("ticket-us")
TARGET = TargetName("db-1")
WAIT = 20.0
PERMIT_NOTHING = {
    "permit_pty": True,
    "permit_port_forwarding": False,
    "permit_agent_forwarding": False,
    "permit_x11_forwarding": False,
    "permit_user_rc": False,
}
PERMIT_EVERYTHING = dict.fromkeys(PERMIT_NOTHING, True)


@pytest.fixture(scope="session")
def gateway_keys(tmp_path_factory: pytest.TempPathFactory) -> GatewayKeys:
    """The region's gateway keys, in a state folder shared by the session."""
    return load_gateway_keys(tmp_path_factory.mktemp("state"), REGION)


@pytest.fixture(scope="session")
def target_sshd(
    tmp_path_factory: pytest.TempPathFactory, gateway_keys: GatewayKeys
) -> Iterator[Sshd]:
    """The target host: a real sshd that trusts only the gateway's client key."""
    yield from sshd_server(tmp_path_factory.mktemp("sshd"), [gateway_keys.client_public()])


@dataclass
class Harness:
    """Everything a gateway test touches."""

    tmp: Path
    store: SqliteStore
    clock: FakeClock
    events: MemorySink
    ca_key: asyncssh.SSHKey
    ca: RegionCA
    keys: GatewayKeys
    sshd: Sshd
    gateway: Gateway | None = None
    port: int = 0
    known_hosts: Path = field(default_factory=Path)

    async def start(self, settings: GatewaySettings | None = None, **hooks: Any) -> int:
        """Start (or restart) the gateway."""
        if self.gateway is not None:
            await self.gateway.stop()
        output_filter: FilterFactory = hooks.get("output_filter", identity_filter)
        recorder: RecorderFactory = hooks.get("recorder", null_recorder)
        self.gateway = Gateway(
            REGION, self.store, self.ca.public_key, self.keys, self.events,
            clock=self.clock, settings=settings, output_filter=output_filter, recorder=recorder,
        )  # fmt: skip
        self.port = await self.gateway.start()
        self.known_hosts = openssh.write_known_hosts(
            self.tmp / "known_hosts", "127.0.0.1", self.port, self.keys.host_public()
        )
        return self.port

    async def new_session(
        self,
        *,
        org: OrgId = ORG,
        ticket: TicketId = TICKET,
        minutes: int = 15,
        access: AccessMode = "terminal",
    ) -> Session:
        """An ``issued`` session in the store (a ``view`` one has no serial, as issued)."""
        now = self.clock.now()
        region = REGION if org == ORG else OTHER
        session = Session(
            id=SessionId(str(uuid.uuid4())), org_id=org, ticket_id=ticket, staff_id=STAFF,
            target=TARGET, region=region, basis="intra-eea", state="issued",
            created_at=now, valid_before=now + timedelta(minutes=minutes),
            cert_serial=new_serial() if access == "terminal" else None,  # chosen at issue
            access=access,
        )  # fmt: skip
        return await self.store.create_session(session)

    def user_key(self) -> tuple[asyncssh.SSHKey, Path]:
        """A fresh engineer key pair, the private half written to disk."""
        key = asyncssh.generate_private_key("ssh-ed25519")
        path = self.tmp / f"id_{uuid.uuid4().hex[:8]}"
        key.write_private_key(path)
        path.chmod(0o600)
        return key, path

    async def issue(self, session: Session) -> Identity:
        """A certificate from the region CA, as the broker would issue it."""
        key, path = self.user_key()
        issued = self.ca.sign(session, key.export_public_key().decode())
        assert issued.serial == session.cert_serial
        cert = asyncssh.import_certificate(issued.certificate)
        cert_path = Path(f"{path}-cert.pub")
        cert.write_certificate(cert_path)
        return Identity(path, cert_path)

    @contextlib.asynccontextmanager
    async def asyncssh_shell(
        self, session: Session
    ) -> AsyncIterator[tuple[asyncssh.SSHClientConnection, Any]]:
        """An asyncssh login as ``session`` with its shell up: the second client beside ssh."""
        identity = await self.issue(session)
        key = asyncssh.read_private_key(identity.key)
        assert identity.certificate is not None
        cert = asyncssh.read_certificate(identity.certificate)
        async with asyncssh.connect(
            "127.0.0.1", self.port, username=session.id, client_keys=[(key, cert)],
            known_hosts=None, config=None, agent_path=None,
        ) as conn:  # fmt: skip
            process = await conn.create_process(term_type="xterm", encoding=None)
            await process.stdout.read(1)
            yield conn, process

    def forge(
        self,
        principals: Sequence[str],
        *,
        signer: asyncssh.SSHKey | None = None,
        valid_after: datetime | None = None,
        valid_before: datetime | None = None,
        serial: int = 0,
        **options: Any,
    ) -> Identity:
        """A certificate signed directly (CA key unless ``signer``); every permit explicit."""
        key, path = self.user_key()
        now = SystemClock().now()
        permits = {**PERMIT_NOTHING, **options}
        cert = (signer or self.ca_key).generate_user_certificate(
            key, "forged", serial=serial, principals=list(principals),
            valid_after=int((valid_after or now - timedelta(minutes=1)).timestamp()),
            valid_before=int((valid_before or now + timedelta(minutes=15)).timestamp()),
            **permits,
        )  # fmt: skip
        cert_path = Path(f"{path}-cert.pub")
        cert.write_certificate(cert_path)
        return Identity(path, cert_path)

    def endpoint(self, *extra: str) -> Endpoint:
        """The gateway as an ssh destination."""
        return Endpoint("127.0.0.1", self.port, self.known_hosts, extra)

    def ssh_argv(
        self, identity: Identity, login: str, *args: str, remote: Sequence[str] = ()
    ) -> list[str]:
        """The ssh command line for this gateway."""
        return openssh.ssh_argv(self.endpoint(), identity, login, *args, remote=remote)

    async def ssh(
        self,
        identity: Identity,
        login: str,
        *args: str,
        remote: Sequence[str] = (),
        stdin: bytes = b"",
        env: dict[str, str] | None = None,
    ) -> Result:
        """Run ssh through the gateway to completion."""
        return await openssh.run(self.ssh_argv(identity, login, *args, remote=remote), stdin, env)

    async def wait_for(self, event: str, count: int = 1) -> list[dict[str, object]]:
        """Every ``event`` so far, once at least ``count`` have been emitted (hang guard)."""

        async def _wait() -> None:
            while len(self.events.of(event)) < count:  # noqa: ASYNC110 - MemorySink has no Event
                await asyncio.sleep(0.02)

        await asyncio.wait_for(_wait(), WAIT)
        return self.events.of(event)

    def blocked(self) -> list[str]:
        """The ``kind`` of every ``egress.blocked`` event so far."""
        return [str(e["kind"]) for e in self.events.of("egress.blocked")]

    def auth_failures(self) -> list[str]:
        """The ``reason`` of every ``auth.failed`` event so far."""
        return [str(e["reason"]) for e in self.events.of("auth.failed")]


def reference_data(sshd: Sshd) -> ImportBundle:
    """One org per region, each with a ticket and a target (the test sshd)."""
    targets = [
        Target(org, TARGET, region, sshd.host, sshd.port, sshd.user, sshd.host_key)
        for org, region in ((ORG, REGION), (OTHER_ORG, OTHER))
    ]
    return ImportBundle(
        orgs=[Org(ORG, REGION, "standard"), Org(OTHER_ORG, OTHER, "standard")],
        staff=[Staff(STAFF, "DE")],
        tickets=[Ticket(TICKET, ORG, 2, "product"), Ticket(OTHER_TICKET, OTHER_ORG, 2, "product")],
        targets=targets,
    )


@pytest.fixture
async def harness(
    tmp_path: Path, gateway_keys: GatewayKeys, target_sshd: Sshd
) -> AsyncIterator[Harness]:
    """A started gateway with default settings over a fresh store."""
    clock = FakeClock(SystemClock().now())
    store = SqliteStore(tmp_path / "broker.db", clock=clock)
    await store.import_bundle(reference_data(target_sshd))
    ca_key = asyncssh.generate_private_key("ssh-ed25519")
    ca = RegionCA(REGION, ca_key, clock)
    h = Harness(tmp_path, store, clock, MemorySink(), ca_key, ca, gateway_keys, target_sshd)
    await h.start()
    try:
        yield h
    finally:
        if h.gateway is not None:
            await h.gateway.stop()
        await store.close()


SHELL_SCRIPT = b"echo hello-$((1+1)); exit 3\n"
"""Sent on stdin to ``ssh -tt``: proves a shell ran (arithmetic) and relays the exit status."""
