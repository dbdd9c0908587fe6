"""The gateway's own keys: the region's, whichever replica serves it.

Two Ed25519 keys per region: the host key engineers' clients see, and the
client key the gateway logs in to inventory targets with (their
``authorized_keys`` trust it). Created on first use, race-safe and never
replaced.

Where they live follows the CA key. Local mode keeps them as files under
``<state>/regions/<region>/gateway/`` (``load_gateway_keys``), shared by every
unit on that state folder. AWS mode keeps them in the region's own Secrets
Manager (``region_gateway_keys`` over the region's ``KeyStore``): replicas on
separate machines then show one host key, so a client that reconnects to
another replica behind the load balancer sees the key it already trusts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncssh

from broker.keys import KeyStore, get_or_create, read_or_create_secret_file
from broker.state import StateLayout
from broker.typing import Region

HOST_KEY_FILE = "ssh_host_ed25519_key"
CLIENT_KEY_FILE = "id_ed25519"
HOST_KEY_NAME = "gateway-host-ed25519"
"""The host key's name in a region's ``KeyStore`` (AWS mode)."""
CLIENT_KEY_NAME = "gateway-client-ed25519"
"""The client key's name in a region's ``KeyStore`` (AWS mode)."""


@dataclass(frozen=True, slots=True)
class GatewayKeys:
    """The host key served to engineers and the client key used towards targets."""

    host_key: asyncssh.SSHKey
    client_key: asyncssh.SSHKey

    def host_public(self) -> str:
        """The host key as one OpenSSH public-key line (for known_hosts)."""
        return self.host_key.export_public_key("openssh").decode("ascii").strip()

    def client_public(self) -> str:
        """The client key as one OpenSSH public-key line (for authorized_keys)."""
        return self.client_key.export_public_key("openssh").decode("ascii").strip()


def gateway_dir(state_dir: Path, region: Region) -> Path:
    """Where the region's gateway keys live."""
    return StateLayout(Path(state_dir)).gateway(region)


def _new_key() -> bytes:
    """A fresh Ed25519 private key in OpenSSH format."""
    return bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))


def load_gateway_keys(state_dir: Path, region: Region) -> GatewayKeys:
    """Read the region's gateway keys, creating them on first use."""
    folder = gateway_dir(state_dir, region)
    host = read_or_create_secret_file(folder / HOST_KEY_FILE, _new_key)
    client = read_or_create_secret_file(folder / CLIENT_KEY_FILE, _new_key)
    return GatewayKeys(asyncssh.import_private_key(host), asyncssh.import_private_key(client))


async def region_gateway_keys(secrets: KeyStore, region: Region) -> GatewayKeys:
    """The region's gateway keys from its key store, created there on first use."""
    host = await get_or_create(secrets, region, HOST_KEY_NAME, _new_key)
    client = await get_or_create(secrets, region, CLIENT_KEY_NAME, _new_key)
    return GatewayKeys(asyncssh.import_private_key(host), asyncssh.import_private_key(client))
