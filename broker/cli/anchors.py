"""Where ``broker audit verify`` reads each region's latest anchor.

Local mode keeps anchors in the store file ``<state>/broker.db``; with
``--config`` of an AWS-mode broker they are where that broker writes them
(``broker.runtime.aws.audit_anchor``). No store file and no config: there
are no anchors to read, so every record is reported unproven.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from broker.audit.anchor import AuditAnchor, StoreAnchor
from broker.aws.clients import ClientFactory
from broker.aws.dynamodb.store import DynamoStore
from broker.clock import SystemClock
from broker.config import aws_settings, load_config
from broker.runtime.aws import audit_anchor
from broker.store.base import Store
from broker.store.sqlite.store import SqliteStore


@asynccontextmanager
async def open_anchor(state: Path, config_path: Path | None) -> AsyncIterator[AuditAnchor | None]:
    """The anchors of the broker whose state (or config) this is; its store is closed after."""
    store: Store | None = None
    anchor: AuditAnchor | None = None
    if config_path is not None and (config := load_config(config_path, state)).mode == "aws":
        settings = aws_settings(config)
        clients = ClientFactory(settings.endpoints())
        store = DynamoStore(clients, *settings.store())
        anchor = audit_anchor(settings, clients, store, SystemClock())
    elif (state / "broker.db").is_file():
        store = SqliteStore(state / "broker.db")
        anchor = StoreAnchor(store)
    try:
        yield anchor
    finally:
        if store is not None:
            await store.close()
