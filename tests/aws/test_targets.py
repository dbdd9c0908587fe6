"""EC2 targets by tag in the org's region, and Instance Connect keys."""

from __future__ import annotations

from typing import Any

import asyncssh
import pytest

from broker.aws.clients import ClientFactory
from broker.aws.targets import ORG_TAG, TARGET_TAG, Ec2Target, Ec2Targets
from broker.errors import ConflictError, NotFoundError
from broker.models import Org
from broker.typing import OrgId, TargetName
from tests.aws.conftest import EU, US, unique
from tests.aws.moto_server import MotoServer

AMI = "ami-12c6146b"
"""One of moto's built-in images (listing them all is slow)."""


def launch(clients: ClientFactory, region: str, org: str, name: str) -> dict[str, Any]:
    """One instance in ``region`` tagged for ``org``/``name``."""
    ec2 = clients.client("ec2", region)
    tags = [{"Key": ORG_TAG, "Value": org}, {"Key": TARGET_TAG, "Value": name}]
    answer = ec2.run_instances(
        ImageId=AMI,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    instance: dict[str, Any] = answer["Instances"][0]
    return instance


@pytest.fixture
def org() -> Org:
    """An eu-central-1 org with an id no other test uses."""
    return Org(OrgId(unique("org")), EU, "standard")


class TestResolve:
    """``Ec2Targets.resolve``."""

    async def test_finds_running_instance_in_org_region(
        self, clients: ClientFactory, org: Org, moto_us: MotoServer
    ) -> None:
        """The tagged instance is found by private IP, asking only the org's region."""
        made = launch(clients, EU, org.id, "web")
        launch(clients, US, org.id, "web")  # same tags, other region: never a candidate
        mark = moto_us.mark()
        found = await Ec2Targets(clients).resolve(org, TargetName("web"))
        assert found == Ec2Target(
            EU, made["InstanceId"], made["PrivateIpAddress"], made["Placement"]["AvailabilityZone"]
        )
        assert moto_us.since(mark) == []

    async def test_only_in_other_region_is_not_found(
        self, clients: ClientFactory, org: Org
    ) -> None:
        """An instance tagged for the org in another region is not reachable."""
        launch(clients, US, org.id, "db")
        with pytest.raises(NotFoundError):
            await Ec2Targets(clients).resolve(org, TargetName("db"))

    async def test_stopped_instance_is_not_found(self, clients: ClientFactory, org: Org) -> None:
        """Only running instances count."""
        made = launch(clients, EU, org.id, "stopped")
        clients.client("ec2", EU).stop_instances(InstanceIds=[made["InstanceId"]])
        with pytest.raises(NotFoundError):
            await Ec2Targets(clients).resolve(org, TargetName("stopped"))

    async def test_two_running_is_ambiguous(self, clients: ClientFactory, org: Org) -> None:
        """Two running instances with one name are refused, not guessed between."""
        launch(clients, EU, org.id, "twin")
        launch(clients, EU, org.id, "twin")
        with pytest.raises(ConflictError):
            await Ec2Targets(clients).resolve(org, TargetName("twin"))


class TestPushKey:
    """``Ec2Targets.push_key``."""

    async def test_fresh_key_sent_in_target_region(
        self, clients: ClientFactory, org: Org, moto_eu: MotoServer, moto_us: MotoServer
    ) -> None:
        """Each call sends a new Ed25519 public key via the region's Instance Connect."""
        made = launch(clients, EU, org.id, "web")
        targets = Ec2Targets(clients)
        target = await targets.resolve(org, TargetName("web"))
        eu_mark, us_mark = moto_eu.mark(), moto_us.mark()
        first = await targets.push_key(target, "support")
        second = await targets.push_key(target, "support")
        assert isinstance(first, asyncssh.SSHKey)
        assert first.algorithm == b"ssh-ed25519"
        assert first.export_public_key() != second.export_public_key()
        sent = [s for s in moto_eu.since(eu_mark) if s.service == "ec2-instance-connect"]
        assert len(sent) == 2
        assert moto_us.since(us_mark) == []
        assert made["InstanceId"] == target.instance_id
