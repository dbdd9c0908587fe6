"""Where a session's shell runs, and with which key the gateway logs in there.

The relay asks an ``UpstreamResolver`` once per session, just before
connecting. Local mode (``InventoryUpstream``) reads host, port, user and the
pinned host key from the store and logs in with the gateway's own key. AWS mode
(``broker.aws.upstream.Ec2Upstream``) finds the instance by its tags in the
session's region and pushes a fresh in-memory key with EC2 Instance Connect.
Either way the target's host key is pinned from the inventory: a gateway never
trusts a host key on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import asyncssh

from broker.errors import BrokerError, NotFoundError
from broker.models import Session, Target
from broker.store.base import Store
from broker.typing import Region


class RelayRefused(Exception):
    """The relay cannot start; ``reason`` is the code the engineer is told."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Upstream:
    """How to reach and log in to one session's target."""

    host: str
    port: int
    user: str
    host_key: asyncssh.SSHKey
    client_key: asyncssh.SSHKey


class UpstreamResolver(Protocol):
    """Finds the target of a session in the gateway's own region."""

    async def resolve(self, session: Session, region: Region) -> Upstream:
        """The upstream, or ``RelayRefused``."""
        ...


async def inventory_target(store: Store, session: Session, region: Region) -> Target:
    """The session's target record: same region, with a pinned host key."""
    try:
        target = await store.get_target(session.org_id, session.target)
    except NotFoundError as error:
        raise RelayRefused("target_unreachable", "target not in inventory") from error
    except BrokerError as error:
        raise RelayRefused("store_unavailable", error.code) from error
    if target.region != region:
        raise RelayRefused("target_unreachable", "target is in another region")
    if not target.host_key:
        raise RelayRefused("target_unreachable", "target has no pinned host key")
    return target


def pinned_key(target: Target) -> asyncssh.SSHKey:
    """The inventory's host key for ``target`` as a key object."""
    assert target.host_key is not None
    try:
        return asyncssh.import_public_key(target.host_key)
    except (asyncssh.KeyImportError, ValueError) as error:
        raise RelayRefused("target_unreachable", "pinned host key is invalid") from error


class InventoryUpstream:
    """Local mode: the store's inventory entry, the gateway's own client key."""

    def __init__(self, store: Store, client_key: asyncssh.SSHKey) -> None:
        self._store = store
        self._client_key = client_key

    async def resolve(self, session: Session, region: Region) -> Upstream:
        """Host, port, user and host key from the inventory."""
        target = await inventory_target(self._store, session, region)
        return Upstream(target.host, target.port, target.user, pinned_key(target), self._client_key)
