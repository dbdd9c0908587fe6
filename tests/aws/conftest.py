"""moto servers for the AWS adapters: one per region, on loopback ephemeral ports.

Fake credentials come from the environment; nothing here can reach real AWS
(every client built in these tests has a loopback endpoint override).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from broker.aws.clients import ClientFactory
from broker.typing import Region
from tests.aws.moto_server import MotoServer

if TYPE_CHECKING:  # e2e_world imports this module's names: no import cycle at run time
    from tests.aws.e2e_world import World

EU = Region("eu-central-1")
US = Region("us-east-1")
_NAMES = itertools.count()

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@contextlib.contextmanager
def fake_aws() -> Iterator[MotoServer]:
    """A moto server, with fake credentials in the environment, for the block.

    For modules outside this package, whose fixtures these are not."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in FAKE_ENV.items():
            patch.setenv(key, value)
        server = MotoServer()
        server.start()
        try:
            yield server
        finally:
            server.stop()


def unique(prefix: str) -> str:
    """A name no other test uses (moto's state is shared by the whole process)."""
    return f"{prefix}-{next(_NAMES)}"


def _running_moto() -> Iterator[MotoServer]:
    """A moto server on an ephemeral loopback port, stopped after its fixture's scope."""
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def fake_credentials() -> Iterator[None]:
    """Fake AWS credentials for every test in this package."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in FAKE_ENV.items():
            patch.setenv(key, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_DEFAULT_REGION", raising=False)
        yield


@pytest.fixture(scope="session")
def moto_eu(fake_credentials: None) -> Iterator[MotoServer]:
    """The moto server standing in for eu-central-1."""
    yield from _running_moto()


@pytest.fixture(scope="session")
def moto_us(fake_credentials: None) -> Iterator[MotoServer]:
    """The moto server standing in for us-east-1."""
    yield from _running_moto()


@pytest.fixture
def clients(moto_eu: MotoServer, moto_us: MotoServer) -> ClientFactory:
    """A fresh factory: eu-central-1 -> ``moto_eu``, us-east-1 -> ``moto_us``."""
    return ClientFactory({EU: moto_eu.url, US: moto_us.url}, max_attempts=1)


@pytest.fixture(scope="session")
def moto_control(fake_credentials: None) -> Iterator[MotoServer]:
    """The control plane's moto server (the store's DynamoDB table, in eu-west-1)."""
    yield from _running_moto()


@pytest.fixture
async def world(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    moto_eu: MotoServer,
    moto_us: MotoServer,
    moto_control: MotoServer,
) -> World:
    """Resources in each server, and a config naming them (the broker not yet started)."""
    from tests.aws.e2e_world import CONTROL, make_world

    servers = {EU: moto_eu, US: moto_us, CONTROL: moto_control}
    return await make_world(tmp_path, monkeypatch, servers)
