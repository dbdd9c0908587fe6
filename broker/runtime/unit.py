"""The regional-unit role: one region's gateway, viewer and recorder, on the store alone.

``broker region --region R`` runs a ``RegionUnit`` per served region (``broker
run`` runs them in its one process). A unit needs only the store and its
region's own storage: it registers itself in the store's unit registry
(``broker.store.units``) and heartbeats every second, which is how the control
plane finds it. Its gateway host key is the region's (the region's state
folder, or in AWS mode the region's Secrets Manager), so every replica of a
region shows the same key.

A unit whose heartbeat is older than ``unit_dead_after_seconds`` is dead. Every
heartbeat a unit also looks for dead siblings of its region (and, at start, for
its own earlier life under the same replica id): their live sessions are
closed in the store (``broker_killed``, audited) and their unfinished
recordings marked ``incomplete``, only those sessions' files, so a live
sibling's recordings are never touched. In AWS mode, where each replica
spools on its own disk, the survivor also rebuilds the dead unit's
recordings from the parts checkpointed in the region's bucket
(``broker.aws.checkpoints``) and uploads them, marked ``incomplete``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog

from broker.audit import Auditor
from broker.ca import CARegistry
from broker.clock import Clock
from broker.config import Config, host_port, replica_id, viewer_origin
from broker.egress.filter import OutputFilter
from broker.errors import BrokerError, ConflictError, InputError, NotFoundError, UnavailableError
from broker.events import EventSink
from broker.gateway.gateway import Gateway
from broker.gateway.hooks import RecorderFactory
from broker.gateway.keys import GatewayKeys
from broker.gateway.settings import GatewaySettings
from broker.recording.files import mark_incomplete
from broker.recording.recorder import RecordingStore
from broker.runtime.aws import AwsParts
from broker.service.context import GatewayAddress
from broker.store.base import Store
from broker.store.units import UnitRecord
from broker.typing import Region, SessionId, UnitId
from broker.viewer.web import RegionViewer

log = structlog.get_logger("broker.unit")
KILLED = "broker_killed"
"""The close reason of a session whose unit was killed while relaying it."""
HEARTBEAT_SECONDS = 1.0
REGION_TAG = "region.tag"
"""The file in a region's state folder naming the region it holds (local mode)."""


def writer_id(config: Config, role: str) -> str:
    """The audit writer id of a process: the one place it is chosen.

    ``broker run`` and ``broker api`` are ``main`` and ``api``; a unit is
    ``unit-<replica id>``, so each replica writes its own chain once audit
    chains are per writer."""
    return {"all": "main", "api": "api"}.get(role) or f"unit-{replica_id(config)}"


def check_region_storage(config: Config, region: Region) -> None:
    """Refuse a region whose local storage is tagged for another; tag an untagged one."""
    folder = config.layout.region(region)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tag = folder / REGION_TAG
    try:
        found = tag.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        tag.write_text(region + "\n", encoding="utf-8")
        return
    if found != region:
        raise InputError(
            "state_dir", f"regions/{region}/{REGION_TAG} names {found}: not {region}'s storage"
        )


@dataclass(slots=True)
class UnitParts:
    """What the composition root hands every unit of a process."""

    config: Config
    store: Store
    cas: CARegistry
    events: EventSink
    clock: Clock
    auditor: Auditor
    aws: AwsParts | None
    eea: dict[Region, bool]
    keys: Callable[[Region], Awaitable[GatewayKeys]]
    """The region's gateway keys (``broker.gateway.keys``): one host key for every replica."""


@dataclass(slots=True)
class RegionUnit:
    """One region's gateway and viewer, registered and heartbeating in the store."""

    parts: UnitParts
    region: Region
    unit_id: UnitId
    gateway: Gateway | None = None
    viewer: RegionViewer | None = None
    address: GatewayAddress | None = None
    started_ms: int = 0
    _taken: set[tuple[UnitId, int]] = field(default_factory=set)

    async def start(self) -> GatewayAddress:
        """Start gateway and viewer, take over this replica id's earlier life, register."""
        config = self.parts.config
        ca = await self.parts.cas.get(self.region)
        keys = await self.parts.keys(self.region)
        self.gateway = self._gateway(ca.public_key, keys)
        port = await self.gateway.start(config.bind_host, config.ssh_port)
        self.viewer = self._viewer(self.gateway)
        origin = await self.viewer.start(config.bind_host, config.viewer_port)
        self.viewer.health = self.health
        self.address = GatewayAddress(
            *self._advertised(port), keys.host_public(), self._viewer_url(origin)
        )
        await self._outlive_earlier_life()
        self.started_ms = self._now_ms()
        await self.take_over(self.unit_id)  # a restart of this id: its sessions died with it
        await self.heartbeat()
        log.info("unit.started", region=self.region, unit=self.unit_id, ssh=self.address.port)
        return self.address

    def _gateway(self, ca_public: bytes | str, keys: GatewayKeys) -> Gateway:
        """The region's gateway, trusting only the region's CA, recording as its holder."""
        parts = self.parts
        return Gateway(
            self.region,
            parts.store,
            ca_public,
            keys,
            parts.events,
            clock=parts.clock,
            settings=GatewaySettings(idle_timeout=float(parts.config.idle_timeout_seconds)),
            output_filter=lambda _session: OutputFilter(),
            recorder=self._recorders(),
            upstream=parts.aws.upstream(keys.client_key) if parts.aws else None,
            audit_ok=functools.partial(parts.auditor.writable, self.region),
            unit_id=self.unit_id,
        )

    def _viewer(self, gateway: Gateway) -> RegionViewer:
        """The region's browser viewer, on the gateway's context; unknown EEA: fail closed."""
        parts = self.parts
        fetch = parts.aws.uploaders[self.region].fetch if parts.aws else None
        eea = parts.eea.get(self.region) is not False
        advertised = parts.config.advertise_viewer
        public = viewer_origin(advertised) if advertised else None
        return RegionViewer(
            gateway.ctx, eea=eea, state_dir=parts.config.state_dir, fetch=fetch,
            public_origin=public,
        )  # fmt: skip

    def _recorders(self) -> RecorderFactory:
        """The region's spool; in AWS mode each session asks the uploader first."""
        parts = self.parts
        spool = RecordingStore(parts.config.state_dir, self.region, parts.clock)
        return spool if parts.aws is None else parts.aws.recorders(self.region, spool)

    def _advertised(self, port: int) -> tuple[str, int]:
        config = self.parts.config
        if config.advertise_ssh:
            return host_port(config.advertise_ssh, "advertise_ssh")
        return config.bind_host, port

    def _viewer_url(self, origin: str) -> str:
        """Links go to the origin the viewer accepts besides its own (``advertise_viewer``)."""
        assert self.viewer is not None
        return self.viewer.public_origin or origin

    async def _outlive_earlier_life(self) -> None:
        """Wait until a record of this replica id is past the dead bound; refuse a live one.

        A killed replica restarted at once still looks alive for up to the
        bound; a second process started with the same id keeps beating, and
        taking its sessions over would cut them, so it is refused."""
        bound = self.parts.config.unit_dead_after_seconds
        for _ in range(4 * bound + 4):  # the bound, and a beat more
            units = await self.parts.store.list_units(self.region)
            mine = [u for u in units if u.unit_id == self.unit_id]
            if not mine or not mine[0].live(self._now_ms(), bound * 1000):
                return
            await self.parts.clock.sleep(0.25)
        raise InputError("replica_id", f"{self.unit_id} is already running in {self.region}")

    def _now_ms(self) -> int:
        return int(self.parts.clock.now().timestamp() * 1000)

    async def heartbeat(self) -> None:
        """Put this unit's record (with its storage health) in the registry."""
        await self.parts.store.put_unit(await self._record())

    async def _record(self) -> UnitRecord:
        assert self.address is not None
        return UnitRecord(
            self.region,
            self.unit_id,
            f"{self.address.host}:{self.address.port}",
            self.address.viewer or "",
            self.address.host_key or "",
            self.started_ms,
            self._now_ms(),
            not self._storage_problems(),
        )

    async def beat_forever(self) -> None:
        """Heartbeat and take over dead siblings every second; a failed beat is logged, retried."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.heartbeat()
                await self.take_over_dead()
            except BrokerError as error:
                log.warning("unit.heartbeat_failed", region=self.region, unit=self.unit_id,
                            code=error.code)  # fmt: skip

    async def take_over_dead(self) -> None:
        """Take over every sibling of the region whose heartbeat is older than the bound."""
        now = self._now_ms()
        bound = self.parts.config.unit_dead_after_seconds * 1000
        for unit in await self.parts.store.list_units(self.region):
            key = (unit.unit_id, unit.heartbeat_at)
            if unit.unit_id == self.unit_id or unit.live(now, bound) or key in self._taken:
                continue
            await self.take_over(unit.unit_id)
            self._taken.add(key)

    async def take_over(self, dead: UnitId) -> None:
        """Close the dead unit's live sessions (``broker_killed``) and mark their recordings."""
        store, now = self.parts.store, self.parts.clock.now()
        closed: list[SessionId] = []
        for session_id in await store.held_sessions(self.region, dead):
            with contextlib.suppress(ConflictError, NotFoundError):  # ended, or another took it
                session = await store.end_session(session_id, "closed", KILLED, now)
                self.parts.events.emit(
                    "session.closed", region=self.region, **session.ids(), reason=KILLED
                )
                closed.append(session_id)
        folder = self.parts.config.layout.region(self.region)
        marked = mark_incomplete(folder, int(now.timestamp()), only=set(closed))
        salvaged = await self._salvage(dead)
        if closed or salvaged:
            log.warning("unit.taken_over", region=self.region, unit=self.unit_id, dead=dead,
                        sessions=len(closed), recordings=len(marked),
                        salvaged=len(salvaged))  # fmt: skip

    async def _salvage(self, dead: UnitId) -> list[str]:
        """AWS mode: rebuild the dead unit's recordings from their parts in the bucket
        (``broker.aws.checkpoints``): its disk may be gone with its machine."""
        uploader = self.parts.aws.uploaders.get(self.region) if self.parts.aws else None
        if uploader is None:
            return []
        held = await self.parts.store.held_sessions(self.region, dead)
        return await asyncio.to_thread(uploader.salvage, held)

    async def health(self) -> list[str]:
        """Why this unit should get no traffic: none when gateway, store and storage are fine."""
        reasons = self._storage_problems()
        if self.gateway is None or self.gateway.port == 0:
            reasons.append("gateway_not_listening")
        try:
            await self.parts.store.ping()
        except BrokerError:
            reasons.append("store_unreachable")
        return reasons

    def _storage_problems(self) -> list[str]:
        """The region's storage, probed: recordings folder writable, audit trail usable, and
        in AWS mode the region's bucket reachable (``RecordingUploader.check_can_accept``)."""
        problems = []
        if not self.parts.auditor.writable(self.region):
            problems.append("audit_unavailable")
        if not _writable(self.parts.config.layout.recordings(self.region)):
            problems.append("recordings_unwritable")
        uploader = self.parts.aws.uploaders.get(self.region) if self.parts.aws else None
        if uploader is not None:  # AWS mode: the region's bucket, as the last pass found it
            try:
                uploader.check_can_accept()
            except UnavailableError as error:
                problems.append(error.code)
        return problems

    async def stop(self) -> None:
        """Leave the registry, then stop viewer and gateway (sessions end ``gateway_stopping``).

        Leaving is a last record with no heartbeat: the control plane stops
        sending sessions here at its next read, not after the dead bound."""
        if self.address is not None:
            with contextlib.suppress(BrokerError):
                await self.parts.store.put_unit(replace(await self._record(), heartbeat_at=0))
        if self.viewer is not None:
            await self.viewer.stop()
        if self.gateway is not None:
            await self.gateway.stop()


def _writable(folder: Path) -> bool:
    """Whether a file can be created (and removed) in ``folder``, created if missing."""
    probe = folder / f".probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True
