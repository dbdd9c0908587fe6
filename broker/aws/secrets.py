"""``KeyStore`` on AWS Secrets Manager: each region's secrets in that region only.

A secret ``name`` of ``region`` is stored as ``<prefix>/<region>/<name>`` by
the Secrets Manager client of that same region. ``put`` is create-only like
``LocalKeyStore``: ``CreateSecret`` fails when the name exists, and then the
existing secret is read back and returned, so racing creators agree on one key.
``RegionalSecrets`` routes each region to a store with that region's own
prefix and KMS key.

A secret made in the region is not yet proof that it stays there: Secrets
Manager can replicate a secret to other regions, a region's copy can be the
replica of another region's primary, and a KMS key named by ARN can live
elsewhere. ``check_home`` reads the secret's description and refuses each of
these (``RegionMismatch``), so a unit does not start on key material that
also lives outside its region.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from broker.aws.clients import ClientFactory
from broker.aws.errors import AWS_ERRORS, error_code, unavailable
from broker.config.aws import AwsRegionSettings
from broker.errors import InputError, RegionMismatch, UnavailableError
from broker.keys import check_name
from broker.state import check_region
from broker.typing import Region

_SECRET_MAX = 64 * 1024
_SERVICE = "secretsmanager"


def arn_region(arn: str) -> str | None:
    """The region field of an ARN (``arn:partition:service:region:...``); None if not an ARN."""
    fields = arn.split(":")
    return fields[3] if len(fields) > 5 and fields[0] == "arn" else None


def homes_elsewhere(described: Mapping[str, Any], region: Region) -> list[str]:
    """Every region other than ``region`` that holds the described secret or its KMS key.

    Read from ``DescribeSecret``: the secret's own ARN, its primary (when this
    copy is a replica), every replica, and the KMS key when named by ARN."""
    found = {
        arn_region(str(described.get("ARN", ""))),
        described.get("PrimaryRegion"),
        arn_region(str(described.get("KmsKeyId", ""))),
        *(replica.get("Region") for replica in described.get("ReplicationStatus", [])),
    }
    return sorted(str(r) for r in found if r and r != region)


class SecretsManagerKeyStore:
    """Secret bytes by ``(region, name)`` in the region's Secrets Manager; create-only."""

    def __init__(
        self, clients: ClientFactory, prefix: str = "broker", kms_key_id: str | None = None
    ) -> None:
        self._clients = clients
        self._prefix = prefix.strip("/")
        self._kms_key_id = kms_key_id

    def secret_id(self, region: Region, name: str) -> str:
        """The Secrets Manager name of the secret ``name`` of ``region``."""
        return f"{self._prefix}/{check_region(region)}/{check_name(name)}"

    async def get(self, region: Region, name: str) -> bytes | None:
        """The stored secret, or None when there is none yet."""
        return await asyncio.to_thread(self._get, region, self.secret_id(region, name))

    async def put(self, region: Region, name: str, secret: bytes) -> bytes:
        """Create the secret unless it exists; return whichever secret is stored."""
        if not secret or len(secret) > _SECRET_MAX:
            raise InputError("secret", "must be 1 byte to 64 KiB")
        return await asyncio.to_thread(self._put, region, self.secret_id(region, name), secret)

    async def check_home(self, region: Region, name: str) -> None:
        """Refuse (``RegionMismatch``) a secret of ``region`` that also lives elsewhere.

        A secret not made yet passes: ``put`` creates it here, unreplicated."""
        await asyncio.to_thread(self._check_home, region, name)

    def _check_home(self, region: Region, name: str) -> None:
        client = self._clients.client(_SERVICE, region)
        try:
            described = client.describe_secret(SecretId=self.secret_id(region, name))
        except AWS_ERRORS as error:
            if error_code(error) == "ResourceNotFoundException":
                return
            raise unavailable("key_unreadable", _SERVICE, error) from error
        elsewhere = homes_elsewhere(described, region)
        if elsewhere:
            raise RegionMismatch(
                "secret_region_mismatch",
                f"secret {name} of {region} also lives in {', '.join(elsewhere)}",
                region=region, secret=name, location=",".join(elsewhere),
            )  # fmt: skip

    def _get(self, region: Region, secret_id: str) -> bytes | None:
        client = self._clients.client(_SERVICE, region)
        try:
            answer = client.get_secret_value(SecretId=secret_id)
        except AWS_ERRORS as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise unavailable("key_unreadable", _SERVICE, error) from error
        value = answer.get("SecretBinary")
        if not isinstance(value, bytes) or not value:
            # A secret someone stored as text is not one the broker wrote: fail closed.
            raise UnavailableError("key_invalid", "stored secret is not binary")
        return value

    def _put(self, region: Region, secret_id: str, secret: bytes) -> bytes:
        client = self._clients.client(_SERVICE, region)
        extra = {} if self._kms_key_id is None else {"KmsKeyId": self._kms_key_id}
        try:
            client.create_secret(Name=secret_id, SecretBinary=secret, **extra)
        except AWS_ERRORS as error:
            if error_code(error) != "ResourceExistsException":
                raise unavailable("key_unwritable", _SERVICE, error) from error
        stored = self._get(region, secret_id)
        if stored is None:
            raise UnavailableError("key_vanished", "secret disappeared while being created")
        return stored


class RegionalSecrets:
    """``KeyStore`` over every configured region: each region's own prefix and KMS key.

    A region without AWS settings has no secrets at all (``InputError``): its
    CA can be neither read nor created, so it cannot sign (fail closed).
    """

    def __init__(self, clients: ClientFactory, regions: Mapping[Region, AwsRegionSettings]) -> None:
        self._stores = {
            region: SecretsManagerKeyStore(clients, s.secret_prefix, s.kms_key_id)
            for region, s in regions.items()
        }

    def store(self, region: Region) -> SecretsManagerKeyStore:
        """The key store of ``region``."""
        found = self._stores.get(region)
        if found is None:
            raise InputError("region", "no AWS settings for this region")
        return found

    async def get(self, region: Region, name: str) -> bytes | None:
        """The stored secret of ``region``, or None."""
        return await self.store(region).get(region, name)

    async def put(self, region: Region, name: str, secret: bytes) -> bytes:
        """Create the secret of ``region`` unless it exists; return the stored one."""
        return await self.store(region).put(region, name, secret)

    async def check_home(self, region: Region, name: str) -> None:
        """Refuse a secret of ``region`` that also lives in another region."""
        await self.store(region).check_home(region, name)
