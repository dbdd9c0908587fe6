"""AWS mode: a region's keys live in that region's Secrets Manager, and only there.

Two units of eu-central-1 on separate state folders (as on separate machines
behind the load balancer) must show one host key, read from the region's
secrets; a key that also lives in another region (replicated, or the copy of
another region's primary) keeps the region's unit from starting.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from broker.ca import CA_KEY_NAME
from broker.config import load_config
from broker.errors import UnavailableError
from broker.gateway.keys import HOST_KEY_NAME
from broker.runtime.root import Runtime
from broker.typing import Region
from tests.aws.conftest import EU, US, unique
from tests.aws.e2e_world import World, grant, log_messages, open_and_run, secret_names
from tests.cli.test_walkthrough import run_ssh


def keyscan(port: int) -> str:
    """The Ed25519 host key a gateway on ``port`` shows, as OpenSSH's ``ssh-keyscan`` reads it."""
    done = subprocess.run(
        ["ssh-keyscan", "-t", "ed25519", "-p", str(port), "127.0.0.1"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    line = next(line for line in done.stdout.splitlines() if not line.startswith("#"))
    return " ".join(line.split()[1:3])


def public_of(world: World, region: Region, name: str) -> str:
    """The public half of a key stored in ``region``'s Secrets Manager."""
    secret_id = f"{world.prefix}/{region}/{name}"
    stored = world.setup.client("secretsmanager", region).get_secret_value(SecretId=secret_id)
    key = asyncssh.import_private_key(stored["SecretBinary"])
    return bytes(key.export_public_key("openssh")).decode().strip()


def second_unit(world: World, tmp_path: Path, *, demo: bool = True) -> Runtime:
    """``broker region --region eu-central-1`` as replica ``b``, on a state folder of its own.

    Its demo target joins the demo orgs that ``broker run`` imported; with no
    ``broker run`` beside it there are none, so ``demo=False``."""
    config = load_config(world.config_path, state_dir=tmp_path / "machine-b")
    return Runtime(replace(config, replica_id="b", demo_targets=demo), role="region", serving=(EU,))


@pytest.fixture
async def replicas(world: World, tmp_path: Path) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """``broker run`` (replica one, the world's state) and replica ``b`` on its own folder."""
    first = Runtime(load_config(world.config_path))
    await first.start()
    second = second_unit(world, tmp_path)
    try:
        await second.start()
        yield first, second
    finally:
        await second.stop()
        await first.stop()


class TestOneHostKeyPerRegion:
    """Replicas on separate machines read the region's gateway keys from its secrets."""

    async def test_replicas_show_the_regions_key(
        self,
        world: World,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        replicas: tuple[Runtime, Runtime],
    ) -> None:
        """Both replicas show the key stored in eu-central-1; ssh trusting it reaches both."""
        ports = [replica.gateways[EU].port for replica in replicas]
        shown = await asyncio.gather(*(asyncio.to_thread(keyscan, p) for p in ports))
        await open_and_run(world, capsys, "T-1001", "eng-de-1")
        units = await replicas[0].store.list_units(EU)  # type: ignore[union-attr]
        stored = public_of(world, EU, HOST_KEY_NAME)
        assert shown == [" ".join(stored.split()[:2])] * 2
        assert {u.host_key for u in units} == {stored}
        assert len(units) == 2
        assert not list((tmp_path / "machine-b").rglob("ssh_host_ed25519_key"))
        assert f"{world.prefix}/{EU}/{HOST_KEY_NAME}" not in secret_names(world, US)

    async def test_reconnect_to_the_other_replica_trusts_the_same_key(
        self,
        world: World,
        capsys: pytest.CaptureFixture[str],
        replicas: tuple[Runtime, Runtime],
    ) -> None:
        """A grant's known_hosts line, pointed at the other replica, passes strict checking."""
        assert "other-replica-42" in await reconnect(world, capsys, *replicas)


async def reconnect(
    world: World, capsys: pytest.CaptureFixture[str], first: Runtime, second: Runtime
) -> str:
    """A grant for ``first``'s gateway, its ssh and known_hosts moved to ``second``'s port."""
    answer = await grant(world, capsys, "T-1001", "eng-de-1")
    old, new = first.gateways[EU].port, second.gateways[EU].port
    words = shlex.split(answer["ssh_command"])
    assert words[words.index("-p") + 1] == str(old)
    words[words.index("-p") + 1] = str(new)
    known = Path(next(w for w in words if w.startswith("UserKnownHostsFile=")).split("=", 1)[1])
    known.write_text(known.read_text().replace(f"]:{old} ", f"]:{new} "))
    assert "StrictHostKeyChecking=yes" in words
    script = "echo other-replica-$((40+2))\nexit 0\n"
    done = await asyncio.to_thread(run_ssh, shlex.join(words), script)
    return str(done.stdout) + str(done.stderr)


class TestKeysLivingElsewhere:
    """A region whose secrets also live in another region gets no unit (fail closed)."""

    def replicate_ca(self, world: World) -> None:
        """A fresh secret prefix for eu-central-1, whose CA key is replicated to us-east-1."""
        config = json.loads(world.config_path.read_text())
        prefix = unique("replicated")
        config["aws"]["regions"][EU]["secret_prefix"] = prefix
        world.config_path.write_text(json.dumps(config))
        world.setup.client("secretsmanager", EU).create_secret(
            Name=f"{prefix}/{EU}/{CA_KEY_NAME}",
            SecretBinary=b"k",
            AddReplicaRegions=[{"Region": US}],
        )

    async def test_broker_region_refuses_to_start(self, world: World, tmp_path: Path) -> None:
        """``broker region`` stops with the reason: the CA key also lives in us-east-1."""
        self.replicate_ca(world)
        unit = second_unit(world, tmp_path, demo=False)
        with pytest.raises(UnavailableError) as caught:
            await unit.start()
        await unit.stop()
        assert caught.value.code == "secret_region_mismatch"
        assert CA_KEY_NAME in caught.value.reason
        assert US in caught.value.reason

    async def test_broker_run_serves_the_other_region(self, world: World) -> None:
        """``broker run`` refuses eu-central-1 only, audited in that region's trail."""
        self.replicate_ca(world)
        runtime = Runtime(load_config(world.config_path))
        endpoints = await runtime.start()
        try:
            assert endpoints["refused"] == {EU: "secret_region_mismatch"}
            assert set(endpoints["gateways"]) == {US}
        finally:
            await runtime.stop()
        assert "keys.region_mismatch" in log_messages(world, EU)
