"""The one boto3 client factory: every AWS client is built here, for one region.

Clients are cached by ``(service, region)``. The region always comes from the
caller (ultimately the session's org), never from boto3's environment or
config defaults, and must be a known AWS region. Credentials come from boto3's
standard chain. ``built`` records every ``(service, region)`` a client was
made for, so tests can prove a session in one region touched no other.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from broker.errors import InputError
from broker.policy.regions import REGIONS
from broker.state import check_region
from broker.typing import Region

SERVICES = frozenset(
    {
        "dynamodb",
        "ec2",
        "ec2-instance-connect",
        "kms",
        "logs",
        "s3",
        "secretsmanager",
        "sns",
        "cloudformation",
        "sts",
    }
)


def known_region(region: str) -> Region:
    """``region`` if it is a known AWS region code, else ``InputError`` (fail closed)."""
    checked = check_region(region)
    if checked not in REGIONS:
        raise InputError("region", "not a known AWS region")
    return checked


class ClientFactory:
    """Builds and caches boto3 clients per ``(service, region)``.

    ``endpoints`` maps a region to an endpoint URL that replaces every
    service's AWS endpoint in that region (moto in tests). ``connect_timeout``
    and ``max_attempts`` bound how long a dead endpoint can stall a caller.
    """

    def __init__(
        self,
        endpoints: Mapping[Region, str] | None = None,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        session: boto3.session.Session | None = None,
    ) -> None:
        self._endpoints = {known_region(r): url for r, url in (endpoints or {}).items()}
        self._config = BotoConfig(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
        )
        self._session = session or boto3.session.Session()
        self._clients: dict[tuple[str, Region], Any] = {}
        self._lock = threading.Lock()
        self.built: list[tuple[str, Region]] = []

    def client(self, service: str, region: str) -> Any:
        """The cached client of ``service`` pinned to ``region``."""
        if service not in SERVICES:
            raise InputError("service", "not an AWS service the broker uses")
        key = (service, known_region(region))
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                found = self._build(*key)
                self._clients[key] = found
                self.built.append(key)
            return found

    def _build(self, service: str, region: Region) -> Any:
        """A new client; boto3 is thread-safe for clients, not for sessions, hence the lock."""
        return self._session.client(
            service,
            region_name=region,
            endpoint_url=self._endpoints.get(region),
            config=self._config,
        )

    def regions_built(self) -> set[Region]:
        """Every region some client was built for."""
        with self._lock:
            return {region for _, region in self.built}

    def endpoint(self, region: Region) -> str | None:
        """The endpoint override of ``region``, if any."""
        return self._endpoints.get(region)
