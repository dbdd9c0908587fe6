"""AWS mode's upstream: the instance found by tags, a fresh key per session.

The inventory still names the target and pins its host key; EC2 says where it
runs now (its private IP, in the session's region only) and EC2 Instance
Connect authorises a key generated for this one session, held in memory and
never written to disk.
"""

from __future__ import annotations

from broker.aws.targets import Ec2Targets
from broker.errors import BrokerError
from broker.gateway.upstream import RelayRefused, Upstream, inventory_target, pinned_key
from broker.models import Session
from broker.store.base import Store
from broker.typing import Region


class Ec2Upstream:
    """Resolves a session's target through EC2 in the gateway's region."""

    def __init__(self, store: Store, targets: Ec2Targets) -> None:
        self._store = store
        self._targets = targets

    async def resolve(self, session: Session, region: Region) -> Upstream:
        """Inventory entry for the host key; EC2 for the address and the key push."""
        target = await inventory_target(self._store, session, region)
        try:
            org = await self._store.get_org(session.org_id)
            instance = await self._targets.resolve(org, session.target)
            key = await self._targets.push_key(instance, target.user)
        except BrokerError as error:
            raise RelayRefused("target_unreachable", error.code) from error
        if instance.region != region:
            raise RelayRefused("target_unreachable", "instance is in another region")
        return Upstream(instance.private_ip, target.port, target.user, pinned_key(target), key)
