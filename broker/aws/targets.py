"""EC2 targets in the org's region, and per-session keys pushed with Instance Connect.

``Ec2Targets.resolve(org, name)`` finds the one running instance tagged
``broker:org=<org>`` and ``broker:target=<name>`` *in the org's region* (the
only region whose client it asks), and returns its private IP. A target in
another region is never found, by construction.

``push_key`` makes a fresh Ed25519 key in memory for one session, sends its
public half with EC2 Instance Connect (valid on the instance for 60 s), and
returns the private key object for the upstream asyncssh connection. The key
is never written anywhere.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncssh

from broker.aws.clients import ClientFactory
from broker.aws.errors import AWS_ERRORS, unavailable
from broker.errors import ConflictError, NotFoundError, UnavailableError
from broker.models import Org
from broker.typing import Region, TargetName

ORG_TAG = "broker:org"
TARGET_TAG = "broker:target"
KEY_ALG = "ssh-ed25519"


@dataclass(frozen=True, slots=True)
class Ec2Target:
    """A running instance a session may reach."""

    region: Region
    instance_id: str
    private_ip: str
    availability_zone: str


class Ec2Targets:
    """Target lookup and upstream keys through the region's EC2 APIs."""

    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    async def resolve(self, org: Org, name: TargetName) -> Ec2Target:
        """The org's running target ``name`` in the org's region."""
        return await asyncio.to_thread(self._resolve, org, name)

    def _resolve(self, org: Org, name: TargetName) -> Ec2Target:
        filters = [
            {"Name": f"tag:{ORG_TAG}", "Values": [org.id]},
            {"Name": f"tag:{TARGET_TAG}", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
        try:
            pages = self._clients.client("ec2", org.region).get_paginator("describe_instances")
            found = [
                i
                for page in pages.paginate(Filters=filters)
                for r in page["Reservations"]
                for i in r["Instances"]
            ]
        except AWS_ERRORS as error:
            raise unavailable("targets_unavailable", "ec2", error) from error
        if not found:
            raise NotFoundError("target_not_found", "no running target", org_id=org.id)
        if len(found) > 1:
            # Two instances claiming one name: refuse rather than guess.
            raise ConflictError("target_ambiguous", "several running targets", org_id=org.id)
        return _target(org.region, found[0])

    async def push_key(self, target: Ec2Target, user: str) -> asyncssh.SSHKey:
        """A fresh in-memory key, authorised for ``user`` on the instance for 60 s."""
        key = asyncssh.generate_private_key(KEY_ALG, comment="broker-session")
        public = key.export_public_key("openssh").decode("ascii").strip()
        await asyncio.to_thread(self._send, target, user, public)
        return key

    def _send(self, target: Ec2Target, user: str, public: str) -> None:
        client = self._clients.client("ec2-instance-connect", target.region)
        try:
            answer = client.send_ssh_public_key(
                InstanceId=target.instance_id,
                InstanceOSUser=user,
                SSHPublicKey=public,
                AvailabilityZone=target.availability_zone,
            )
        except AWS_ERRORS as error:
            raise unavailable("instance_connect_failed", "ec2-instance-connect", error) from error
        if not answer.get("Success"):
            raise UnavailableError("instance_connect_refused", "the key was not accepted")


def _target(region: Region, instance: dict[str, Any]) -> Ec2Target:
    ip = instance.get("PrivateIpAddress")
    if not ip:
        raise UnavailableError("target_no_private_ip", "the target has no private address")
    return Ec2Target(region, instance["InstanceId"], ip, instance["Placement"]["AvailabilityZone"])
