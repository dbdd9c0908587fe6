"""The composition root: build every part from a ``Config`` and run them.

``broker run`` is a ``Runtime`` of role ``all``: the store, the region CAs,
the event sink, the API, and per configured region a regional unit
(``broker.runtime.unit``: gateway and viewer) and, in local mode, a demo
target host. ``broker api`` is role ``api``: the control plane alone, which
finds the units through the store (``broker.runtime.control``).
``broker region`` is role ``region``: the units alone (and their demo
targets); it refuses to start if a served region's storage is not that
region's. Tests start a ``Runtime`` on ephemeral loopback ports too, so
what they exercise is what users run. In AWS mode the store, the CA keys,
the audit mirror and the recording uploaders come from ``broker.runtime.aws``;
a region whose bucket fails its check at start gets no gateway (fail closed)
and is listed under ``refused`` in ``endpoints.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from aiohttp import web

from broker.api.app import create_app
from broker.api.protocol import answer_problems
from broker.audit import Auditor
from broker.audit.anchor import AuditAnchor, StoreAnchor
from broker.audit.log import configure_logging
from broker.ca import CARegistry
from broker.clock import Clock, SystemClock
from broker.config import Config, replica_id
from broker.demo import DEMO_TARGET_NAME, demo_document
from broker.demo.process import DemoEndpoint, DemoHosts, DemoSpec
from broker.errors import BrokerError, InputError, UnavailableError
from broker.events import EventSink
from broker.gateway.gateway import Gateway
from broker.gateway.keys import GatewayKeys, load_gateway_keys, region_gateway_keys
from broker.keys import KeyStore, LocalKeyStore
from broker.metrics import Metrics
from broker.models import Target
from broker.notify.build import build_notifier
from broker.notify.fanout import Fanout
from broker.policy import PolicyConfig
from broker.runtime.aws import AwsParts
from broker.runtime.control import UnitDirectory
from broker.runtime.parts import local_store, token_verifier
from broker.runtime.unit import RegionUnit, UnitParts, check_region_storage, writer_id
from broker.runtime.workers.hub import EventHub
from broker.runtime.workers.supervisor import ApiWorkers
from broker.service.consent_requests import ConsentRequestService
from broker.service.context import Context, announce_settings
from broker.state import check_writer
from broker.store.base import ImportBundle, Store
from broker.store.import_bundle import parse_bundle
from broker.typing import OrgId, Region, TargetName
from broker.viewer.web import RegionViewer

log = structlog.get_logger("broker.runtime")
DEMO_HOST = "127.0.0.1"
"""Where the demo targets listen, even when the broker binds a wider address."""
DEMO_ORGS_WAIT_SECONDS = 0.5
DEMO_ORGS_WAIT_STEPS = 240
"""How long a unit waits for the control plane's demo orgs (two minutes) before giving up."""
Role = Literal["all", "api", "region"]
"""What a process runs: everything (``broker run``), the control plane, or regional units."""


@dataclass(slots=True)
class Runtime:
    """One running broker instance."""

    config: Config
    clock: Clock = field(default_factory=SystemClock)
    role: Role = "all"
    serving: tuple[Region, ...] = ()
    """The regions whose units this process runs (``all``, ``region``); empty: the config's."""
    auditor: Auditor | None = None
    store: Store | None = None
    ctx: Context | None = None
    api_url: str = ""
    demo_targets: dict[Region, DemoEndpoint] = field(default_factory=dict)
    demo_hosts: DemoHosts | None = None
    gateways: dict[Region, Gateway] = field(default_factory=dict)
    viewers: dict[Region, RegionViewer] = field(default_factory=dict)
    units: dict[Region, RegionUnit] = field(default_factory=dict)
    aws: AwsParts | None = None
    api_workers: ApiWorkers | None = None
    notifier: Fanout = field(default_factory=lambda: Fanout(()))
    _gateway_keys: dict[Region, GatewayKeys] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def events(self) -> EventSink:
        """Where every part sends its events: the audit trail (and CloudWatch in AWS mode)."""
        assert self.auditor is not None, "start() first"
        return self.aws.events if self.aws is not None else self.auditor

    async def start(self) -> dict[str, Any]:
        """Start everything; returns (and writes) the endpoints document."""
        state = self.config.state_dir
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        for region in self.regions if self.role != "api" else ():
            check_region_storage(self.config, region)  # before anything is written there
        self.auditor = self.auditor or _auditor(self.config, self.role, self.clock)
        # One redacted JSON-lines pipeline for every log line, to stderr.
        configure_logging(redactor=self.auditor.redactor, stream=sys.stderr)
        writer = writer_id(self.config, self.role)
        log.info("runtime.role", role=self.role, writer=writer, regions=list(self.regions))
        self._tasks.append(asyncio.get_running_loop().create_task(self.auditor.flush_every(1.0)))
        self.store = self._open_store()
        self.auditor.use_anchor(self._anchor())
        await self._open_trails()
        fresh = not (await self.store.list_staff())
        policy = PolicyConfig.from_mapping(self.config.policy)
        cas = CARegistry(self._key_store(), self.clock)
        self.ctx = Context(self.config, self.store, cas, self.events, self.clock, policy)
        self.ctx.notifier = self.notifier = self._notifier()
        self.ctx.redactor = self.auditor.redactor
        # Consent requests unanswered past their expiry are recorded as expired, once each.
        sweep = ConsentRequestService(self.ctx).expire_every()
        self._tasks.append(asyncio.get_running_loop().create_task(sweep))
        # AWS mode imports demo data only when asked for demo targets (never by default).
        demo = self.config.mode == "local" or self.config.demo_targets
        if fresh and demo and self.role != "region":
            await self._import_demo()
        if self.config.demo_targets and self.role != "api":
            await self._start_demo_targets()
        if self.role != "api":
            await self._start_units(cas)
        if self.role != "region":
            await self._start_api()
        return self._write_endpoints()

    @property
    def regions(self) -> tuple[Region, ...]:
        """The regions whose units this process runs."""
        return self.serving or self.config.regions

    def _open_store(self) -> Store:
        """SQLite in the state folder; in AWS mode, DynamoDB (and the other AWS parts)."""
        if self.config.mode != "aws":
            return local_store(self.config, self.clock)
        assert self.auditor is not None
        self.aws = AwsParts.build(self.config, self.clock, self.auditor)
        self.aws.start()
        return self.aws.store

    async def _open_trails(self) -> None:
        """Open and check every region's trail; one that fails refuses only its own region.

        Its events then raise ``audit_unavailable``: grants there answer 503 and
        its gateway refuses logins, while the other regions serve (fail closed
        per region, and said loudly)."""
        try:
            await self._auditor().open(list(self.config.regions))
        except BrokerError as error:
            log.error("audit trail unavailable at start", code=error.code, reason=str(error))

    def _anchor(self) -> AuditAnchor:
        """Where each region's sealed audit head is anchored: AWS mode's choice, or the store."""
        return self.aws.anchor() if self.aws is not None else StoreAnchor(self._store())

    def _notifier(self) -> Fanout:
        """Consent-request notifications: webhooks; SNS and named secrets in AWS mode."""
        aws = self.aws
        return build_notifier(
            self.config,
            self.events,
            self.clock,
            clients=aws.clients if aws else None,
            keys=aws.keys if aws else None,
        )

    def _key_store(self) -> KeyStore:
        """Where region CA keys live: the state folder, or each region's Secrets Manager."""
        return self.aws.keys if self.aws is not None else LocalKeyStore(self.config.state_dir)

    async def _import_demo(self) -> None:
        bundle = parse_bundle(demo_document())
        counts = await self._store().import_bundle(bundle)
        announce_settings(self.events, counts.settings, source="demo", actor="demo")
        for region in {org.region for org in bundle.orgs}:
            self.events.emit("import.applied", region=region, actor="demo", orgs=counts.orgs)

    async def _start_demo_targets(self) -> None:
        """One demo target per region (in a child process), as ``app-1`` of each demo org there."""
        specs = [
            DemoSpec(
                region,
                self.config.layout.demo_target(region),
                ((await self.gateway_keys(region)).client_public(),),
            )
            for region in self.regions
        ]
        self.demo_hosts = DemoHosts()
        # Loopback whatever the bind: a demo shell is reached by its gateway on this machine.
        self.demo_targets = await self.demo_hosts.start(self.config.state_dir, DEMO_HOST, specs)
        targets = [
            _demo_target(org_id, endpoint)
            for region, endpoint in self.demo_targets.items()
            for org_id in demo_orgs_in(region)
        ]
        await self._import_demo_targets(ImportBundle(targets=targets))

    async def _import_demo_targets(self, bundle: ImportBundle) -> None:
        """Import the demo targets; a unit waits (bounded) for the control plane's demo orgs.

        The roles start in any order: a ``broker region`` up before ``broker
        api`` has imported the demo data finds the orgs unknown, so it waits
        for them rather than exiting."""
        for attempt in range(DEMO_ORGS_WAIT_STEPS):
            try:
                await self._store().import_bundle(bundle)
                return
            except InputError as error:
                if self.role != "region" or not error.field.endswith(".org_id"):
                    raise
                if not attempt:
                    log.info("runtime.waiting_for_demo_orgs", regions=list(self.regions))
            await asyncio.sleep(DEMO_ORGS_WAIT_SECONDS)
        await self._store().import_bundle(bundle)  # the last try: its error says why

    async def gateway_keys(self, region: Region) -> GatewayKeys:
        """The region's gateway keys: the state folder's, or (AWS mode) its Secrets Manager's."""
        keys = self._gateway_keys.get(region)
        if keys is None:
            keys = (
                await region_gateway_keys(self.aws.keys, region)
                if self.aws is not None
                else load_gateway_keys(self.config.state_dir, region)
            )
            self._gateway_keys[region] = keys
        return keys

    async def _start_units(self, cas: CARegistry) -> None:
        """One regional unit per served region, registered in the store and heartbeating.

        In AWS mode a region whose bucket fails its check gets none: ``broker
        run`` serves the others, ``broker region`` refuses to start."""
        assert self.ctx is not None
        eea = {Region(r): v for r, v in self.ctx.policy.region_eea.items() if v is not None}
        parts = UnitParts(
            self.config, self._store(), cas, self.events, self.clock, self._auditor(), self.aws,
            eea, self.gateway_keys,
        )  # fmt: skip
        for region in self.regions:
            if self.aws is not None and not await self.aws.admit(region, self.config.state_dir):
                if self.role == "region":
                    why = self.aws.refused[region]
                    raise UnavailableError(why.code, f"aws.regions.{region}: {why.reason}")
                continue
            unit = RegionUnit(parts, region, replica_id(self.config))
            address = await unit.start()
            self.units[region] = unit
            assert unit.gateway is not None
            assert unit.viewer is not None
            self.gateways[region], self.viewers[region] = unit.gateway, unit.viewer
            self.ctx.gateways[region] = address
            self._spawn(unit.beat_forever())

    def _spawn(self, work: Any) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(work))

    async def _start_api(self) -> None:
        assert self.ctx is not None
        verifier = token_verifier(self.config, self.clock)
        assert self.auditor is not None
        if self.role == "api":
            if self.config.api_processes > 1:
                raise InputError("api_processes", "broker api serves from one process")
            self.ctx.units_required = True
            directory = UnitDirectory(
                self._store(), self.clock, self.ctx.gateways, self.config.regions,
                self.config.unit_dead_after_seconds,
            )  # fmt: skip
            await directory.refresh()
            self._spawn(directory.run())
        if self.config.api_processes > 1:
            port = await self._start_api_workers()
        else:
            holds = {r: u.hold_copy for r, u in self.aws.uploaders.items()} if self.aws else None
            app = create_app(self.ctx, verifier, self.auditor, Metrics(), remote_holds=holds)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            answer_problems(self._runner.server)
            site = web.TCPSite(self._runner, self.config.bind_host, self.config.api_port)
            await site.start()
            port = self._runner.addresses[0][1]
        self.api_url = f"http://{self.config.bind_host}:{port}"

    async def _start_api_workers(self) -> int:
        """API worker processes on one port; their events come here to the chains."""
        assert self.ctx is not None
        assert self.auditor is not None
        auditor = self.auditor
        hub = EventHub(self.events, lambda: asyncio.to_thread(auditor.flush))
        self.api_workers = ApiWorkers(self.config, hub, dict(self.ctx.gateways))
        return await self.api_workers.start()

    def _write_endpoints(self) -> dict[str, Any]:
        assert self.ctx is not None
        document = {
            "api": self.api_url,
            "console": f"{self.api_url}/console/",
            "mode": self.config.mode,
            "gateways": {r: f"{a.host}:{a.port}" for r, a in self.ctx.gateways.items()},
            "viewers": {r: a.viewer for r, a in self.ctx.gateways.items() if a.viewer},
            "demo_targets": {r: f"{d.host}:{d.port}" for r, d in self.demo_targets.items()},
            "pid": os.getpid(),
        }
        if self.api_workers is not None:
            document["api_pids"] = self.api_workers.pids
        if self.aws is not None:
            document["refused"] = {r: error.code for r, error in self.aws.refused.items()}
        _write_atomic(self.endpoints_path, json.dumps(document, indent=2))
        return document

    @property
    def endpoints_path(self) -> Path:
        """``endpoints.json`` (run), ``endpoints.api.json`` or ``endpoints.unit-<id>.json``."""
        name = {"all": "endpoints", "api": "endpoints.api"}.get(self.role)
        return self.config.state_dir / f"{name or f'endpoints.unit-{replica_id(self.config)}'}.json"

    async def stop(self) -> None:
        """Stop everything started, in reverse order."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self.api_workers is not None:
            await self.api_workers.stop()
        for unit in self.units.values():
            await unit.stop()
        if self.demo_hosts is not None:
            await self.demo_hosts.stop()
        await self.notifier.aclose()  # drains (bounded) while the audit trail still writes
        if self.aws is not None:
            await self.aws.stop()
        for task in self._tasks:
            task.cancel()
        if self.auditor is not None:
            with contextlib.suppress(BrokerError):  # no final anchor: the next start sees a crash
                await self.auditor.aclose()
            self.auditor.close()
        if self.store is not None:
            await self.store.close()
        if self.api_url or self.units:  # only a document this process wrote (not a refused twin's)
            self.endpoints_path.unlink(missing_ok=True)

    def _store(self) -> Store:
        assert self.store is not None
        return self.store

    def _auditor(self) -> Auditor:
        assert self.auditor is not None
        return self.auditor


def _auditor(config: Config, role: Role, clock: Clock) -> Auditor:
    """The process's auditor, writing each region's chain of its writer id (``writer_id``):
    split roles on one state folder each append to a chain of their own."""
    return Auditor(config.state_dir, clock, writer=check_writer(writer_id(config, role)))


def demo_orgs_in(region: Region) -> list[OrgId]:
    """The demo orgs whose data lives in ``region``."""
    return [org.id for org in parse_bundle(demo_document()).orgs if org.region == region]


def _demo_target(org_id: OrgId, demo: DemoEndpoint) -> Target:
    return Target(
        org_id,
        TargetName(DEMO_TARGET_NAME),
        demo.region,
        demo.host,
        demo.port,
        demo.user,
        demo.host_key_openssh,
    )


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
