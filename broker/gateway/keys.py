"""The gateway's own keys, kept under ``<state>/regions/<region>/gateway/``.

Two Ed25519 keys per region: the host key engineers' clients see, and the
client key the gateway logs in to targets with (local mode; the inventory's
``authorized_keys`` on each target trusts it). Created on first use, race-safe
and never replaced, with the same private-file rules as the CA keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import asyncssh

from broker.keys import read_or_create_secret_file
from broker.state import StateLayout
from broker.typing import Region

HOST_KEY_FILE = "ssh_host_ed25519_key"
CLIENT_KEY_FILE = "id_ed25519"


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
