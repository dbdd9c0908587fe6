"""AWS mode's parts, built from the config for the ``Runtime``.

One ``ClientFactory`` (endpoint overrides from the settings) feeds
everything: the DynamoDB store in the store's region, each region's CA key in
that region's Secrets Manager, the audit mirror to each region's CloudWatch
log group, and per served region a ``RecordingUploader`` to that region's
bucket. A region whose bucket is elsewhere or unreachable at start, or whose
secrets (CA key, gateway keys) also live in another region, is *refused*:
its gateway does not start, so it takes no sessions (fail closed).
Every session of an admitted region asks its uploader first
(``check_can_accept``), so a bucket found elsewhere later, or a strict-mode
backlog, refuses new sessions too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from broker.audit import Auditor
from broker.audit.anchor import AuditAnchor, StoreAnchor
from broker.aws.anchor import KmsLogsAnchor, RoutedAnchor
from broker.aws.audit_mirror import AuditMirror, mirror_stream
from broker.aws.clients import ClientFactory
from broker.aws.cloudwatch import CloudWatchSink
from broker.aws.dynamodb.store import DynamoStore
from broker.aws.recordings import RecordingUploader
from broker.aws.secrets import RegionalSecrets
from broker.aws.targets import Ec2Targets
from broker.aws.upstream import Ec2Upstream
from broker.ca import CA_KEY_NAME
from broker.clock import Clock, SystemClock
from broker.config import Config, aws_settings
from broker.config.aws import AwsSettings
from broker.errors import BrokerError, RegionMismatch, UnavailableError
from broker.gateway.hooks import Recorder, RecorderFactory
from broker.gateway.keys import CLIENT_KEY_NAME, HOST_KEY_NAME
from broker.gateway.upstream import InventoryUpstream, UpstreamResolver
from broker.models import Session
from broker.typing import Region

AUDIT_FLUSH_SECONDS = 5.0
"""How often buffered events go to CloudWatch (and once more at stop)."""
STOP_WAIT = 30.0
"""How long ``stop`` waits for an upload pass in flight to finish."""
REGION_SECRETS = (CA_KEY_NAME, HOST_KEY_NAME, CLIENT_KEY_NAME)
"""The secrets a unit needs, each checked at start to live in its region alone."""


class GatedRecorders:
    """A ``RecorderFactory`` that asks the region's uploader before every recording."""

    def __init__(self, uploader: RecordingUploader, inner: RecorderFactory) -> None:
        self.uploader = uploader
        self.inner = inner

    def __call__(self, session: Session) -> Recorder:
        """Raise (the gateway then refuses the session) unless recordings can be kept."""
        self.uploader.check_can_accept()
        return self.inner(session)


@dataclass(slots=True)
class AwsParts:
    """Everything AWS mode adds to a ``Runtime``, and the background work it runs."""

    settings: AwsSettings
    clients: ClientFactory
    store: DynamoStore
    keys: RegionalSecrets
    cloudwatch: CloudWatchSink
    events: AuditMirror
    uploaders: dict[Region, RecordingUploader] = field(default_factory=dict)
    refused: dict[Region, BrokerError] = field(default_factory=dict)
    """Why each refused region was refused: its code goes to ``endpoints.json``, the error
    itself is what ``broker region`` stops with."""
    clock: Clock = field(default_factory=SystemClock)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, config: Config, clock: Clock, auditor: Auditor) -> AwsParts:
        """Every client-backed part; nothing is contacted until used."""
        settings = aws_settings(config)
        clients = ClientFactory(settings.endpoints())
        store_region, table = settings.store()
        groups = {region: s.log_group for region, s in settings.regions.items()}
        cloudwatch = CloudWatchSink(clients, groups, mirror_stream(auditor.writer), clock=clock)
        return cls(
            settings,
            clients,
            DynamoStore(clients, store_region, table, clock=clock),
            RegionalSecrets(clients, settings.regions),
            cloudwatch,
            AuditMirror(auditor, cloudwatch, frozenset(groups)),
            clock=clock,
        )

    def start(self) -> None:
        """Ship audit events to CloudWatch in the background."""
        self._spawn(self.cloudwatch.run(self._stop, AUDIT_FLUSH_SECONDS))

    async def admit(self, region: Region, state_dir: Path) -> bool:
        """Check ``region``'s bucket and secrets; start its uploader, or refuse it (audited)."""
        uploader = RecordingUploader(
            self.clients,
            self.settings.region(region),
            state_dir,
            self.events,
            self.settings.recordings,
        )
        try:
            await self._check_bucket(uploader)
            await self._check_secrets(region)
        except (RegionMismatch, UnavailableError) as error:
            self.refused[region] = error  # each check audited it
            return False
        self.uploaders[region] = uploader
        self._spawn(uploader.run(self._stop))
        return True

    async def _check_bucket(self, uploader: RecordingUploader) -> None:
        """Refuse (audited) a region whose bucket is elsewhere or cannot be checked."""
        try:
            await asyncio.to_thread(uploader.check_bucket)  # audits a mismatch itself
        except UnavailableError as error:
            self.events.emit("recordings.region_mismatch", region=uploader.region,
                             reason=error.code)  # fmt: skip
            raise

    async def _check_secrets(self, region: Region) -> None:
        """Refuse (audited) a region whose CA or gateway key also lives in another region."""
        for name in REGION_SECRETS:
            try:
                await self.keys.check_home(region, name)
            except (RegionMismatch, UnavailableError) as error:
                self.events.emit(
                    "keys.region_mismatch", region=region, reason=error.code, secret=name,
                    location=error.ids.get("location"),
                )  # fmt: skip
                raise

    def anchor(self) -> AuditAnchor:
        """Where each region's sealed audit head is anchored (``audit_anchor``)."""
        return audit_anchor(self.settings, self.clients, self.store, self.clock)

    def upstream(self, client_key: asyncssh.SSHKey) -> UpstreamResolver:
        """EC2 lookup + Instance Connect, or the inventory (``aws.targets``)."""
        if self.settings.targets == "inventory":
            return InventoryUpstream(self.store, client_key)
        return Ec2Upstream(self.store, Ec2Targets(self.clients))

    def recorders(self, region: Region, inner: RecorderFactory) -> RecorderFactory:
        """``inner``, gated by the admitted ``region``'s uploader."""
        return GatedRecorders(self.uploaders[region], inner)

    async def stop(self) -> None:
        """Let uploads in flight finish, then send the last audit events."""
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=STOP_WAIT)
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(UnavailableError):
            await asyncio.to_thread(self.cloudwatch.flush)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(work))


def audit_anchor(
    settings: AwsSettings, clients: ClientFactory, store: DynamoStore, clock: Clock
) -> AuditAnchor:
    """KMS-signed anchors in CloudWatch Logs for each region with an ``anchor_key_id``.

    Every other region's anchors (no key, or a region with events but no AWS
    settings) go to the DynamoDB store: outside the state folder all the same."""
    keyed = {r: (s.anchor_key_id, s.log_group) for r, s in settings.regions.items()}
    where = {r: (key, group) for r, (key, group) in keyed.items() if key is not None}
    if not where:
        return StoreAnchor(store)
    signed = KmsLogsAnchor(clients, where, clock=clock)
    return RoutedAnchor(signed, frozenset(where), StoreAnchor(store))
