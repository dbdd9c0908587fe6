"""The demo target's construction: binding rules, files on disk, the inventory record."""

from __future__ import annotations

import asyncio
import os
import stat

import pytest

from broker.demo.target import HOST_KEY_FILE, README_FILE, DemoTarget
from broker.errors import ConflictError, InputError, UnavailableError
from tests.demo.conftest import DEMO_REGION as REGION
from tests.demo.conftest import ClientKey


class TestDemoTargetSetup:
    """Construction, binding rules, files on disk and the inventory record."""

    @pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "localhost", "::1", "::", ""])
    async def test_refuses_non_loopback_hosts(self, tmp_path, client_key, host):
        """Only literal IPv4 loopback addresses may be bound; nothing listens otherwise."""
        demo = DemoTarget(REGION, tmp_path / "demo-target", [client_key.public])
        with pytest.raises(InputError) as caught:
            await demo.start(host=host)
        assert caught.value.field == "host"
        with pytest.raises(ConflictError):
            _ = demo.port

    async def test_binds_the_given_loopback_address_and_port(self, tmp_path, client_key):
        """Another 127/8 address and an explicit port are honoured."""
        demo = DemoTarget(REGION, tmp_path / "demo-target", [client_key.public])
        port = await demo.start(host="127.0.0.2")
        try:
            assert (demo.host, demo.port) == ("127.0.0.2", port)
            _, writer = await asyncio.open_connection("127.0.0.2", port)
            writer.close()
            await writer.wait_closed()
        finally:
            await demo.stop()

    async def test_start_twice_is_a_conflict(self, target):
        """A running target cannot be started again."""
        with pytest.raises(ConflictError):
            await target.start()

    @pytest.mark.parametrize(
        ("region", "keys", "user", "field"),
        [
            ("eu-central-1; rm -rf /", None, "support", "region"),
            ("../../etc", None, "support", "region"),
            (REGION, [], "support", "authorized_keys"),
            (REGION, ["not a key"], "support", "authorized_keys"),
            (REGION, None, "Robert'); --", "user"),
        ],
    )
    def test_bad_input_names_the_field(self, tmp_path, client_key, region, keys, user, field):
        """Malformed region, key list or login name is refused before anything is created."""
        folder = tmp_path / "demo-target"
        with pytest.raises(InputError) as caught:
            DemoTarget(region, folder, client_key_list(client_key, keys), user=user)
        assert caught.value.field == field
        assert not folder.exists()

    def test_creates_a_private_host_key_and_a_readme(self, tmp_path, client_key):
        """First use writes host_key (0600) and a README in the demo home."""
        folder = tmp_path / "demo-target"
        demo = DemoTarget(REGION, folder, [client_key.public])
        assert stat.S_IMODE((folder / HOST_KEY_FILE).stat().st_mode) == 0o600
        assert demo.home == folder / "home"
        assert "not a customer system" in (demo.home / README_FILE).read_text()
        assert demo.host_key_openssh.startswith("ssh-ed25519 ")

    def test_a_host_key_open_to_others_is_refused(self, tmp_path, client_key):
        """Fail closed: a host key file readable by others is not used."""
        folder = tmp_path / "demo-target"
        DemoTarget(REGION, folder, [client_key.public])
        os.chmod(folder / HOST_KEY_FILE, 0o644)
        with pytest.raises(UnavailableError, match="not a private regular file"):
            DemoTarget(REGION, folder, [client_key.public])

    async def test_target_record_points_at_the_running_target(self, target):
        """The inventory record carries the region, address, user and host key."""
        record = target.target_record("org-1", "demo")
        assert record.region == REGION
        assert (record.host, record.port) == ("127.0.0.1", target.port)
        assert record.user == "support"
        assert record.host_key == target.host_key_openssh


def client_key_list(key: ClientKey, keys: list[str] | None) -> list[str]:
    """``keys`` as given, or the authorized test key when None."""
    return [key.public] if keys is None else keys
