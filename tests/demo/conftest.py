"""Demo-target fixtures: a running demo host and the client keys it does or does not trust."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from broker.demo.target import DemoTarget

DEMO_REGION = "eu-central-1"
"""The demo target tests' region, as the plain string a config holds."""


@dataclass(frozen=True)
class ClientKey:
    """A client key on disk, as ssh and paramiko read it."""

    path: Path
    public: str


def make_key(path: Path) -> ClientKey:
    """A fresh Ed25519 key written where OpenSSH accepts it (mode 0600)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    path.chmod(0o600)
    return ClientKey(path, key.export_public_key().decode().strip())


@pytest.fixture
def client_key(tmp_path: Path) -> ClientKey:
    """The key the demo target authorizes."""
    return make_key(tmp_path / "id_authorized")


@pytest.fixture
def stranger_key(tmp_path: Path) -> ClientKey:
    """A key the demo target does not know."""
    return make_key(tmp_path / "id_stranger")


@pytest.fixture
async def target(tmp_path: Path, client_key: ClientKey) -> AsyncIterator[DemoTarget]:
    """A running demo target that authorizes ``client_key``."""
    demo = DemoTarget(DEMO_REGION, tmp_path / "demo-target", [client_key.public])
    await demo.start()
    yield demo
    await demo.stop()
