"""The demo targets' own process, started and stopped by its parent's handle."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from broker.demo.process import DemoEndpoint, DemoHosts, DemoSpec
from broker.errors import UnavailableError
from broker.typing import Region
from tests.demo.conftest import ClientKey
from tests.demo.test_target import run_ssh

pytestmark = pytest.mark.ssh

REGIONS = (Region("eu-central-1"), Region("us-east-1"))


def specs(tmp_path: Path, key: ClientKey) -> list[DemoSpec]:
    """One demo target per test region, each authorizing ``key``."""
    return [DemoSpec(r, tmp_path / r / "demo-target", (key.public,)) for r in REGIONS]


def alive(pid: int) -> bool:
    """Whether ``pid`` is still a process (and not a zombie)."""
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False


@pytest.fixture
async def hosts(
    tmp_path: Path, client_key: ClientKey
) -> AsyncIterator[tuple[DemoHosts, dict[Region, DemoEndpoint]]]:
    """The child process running both regions' demo targets."""
    handle = DemoHosts()
    endpoints = await handle.start(tmp_path, "127.0.0.1", specs(tmp_path, client_key))
    yield handle, endpoints
    await handle.stop()


def exits(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The captured ``demo.exited_unexpectedly`` events."""
    return [e for e in logs if e["event"] == "demo.exited_unexpectedly"]


class TestDemoHosts:
    """A child process per broker, a demo target per region inside it."""

    async def test_each_region_serves_bash(
        self, hosts: tuple[DemoHosts, Any], tmp_path: Path, client_key: ClientKey
    ) -> None:
        """Every region's target answers ssh with its pinned host key, a bash in that region."""
        handle, endpoints = hosts
        assert set(endpoints) == set(REGIONS)
        assert handle.pid is not None
        assert handle.pid != os.getpid()
        for region, endpoint in endpoints.items():
            assert endpoint.region == region
            script = b"echo answer-$((6*7))-$DEMO_TARGET_REGION; exit\n"
            status, out, err = await run_ssh(tmp_path, endpoint, client_key, "-tt", stdin=script)
            assert status == 0, err
            assert f"answer-42-{region}" in out

    async def test_stop_ends_the_child(self, hosts: tuple[DemoHosts, Any]) -> None:
        """Stopping closes the child's stdin; it stops its targets and exits."""
        handle, _ = hosts
        pid = handle.pid
        assert pid is not None
        assert alive(pid)
        assert await handle.stop() == 0  # in order, not killed
        assert not alive(pid)
        assert handle.pid is None

    async def test_unexpected_exit_is_logged(self, hosts: tuple[DemoHosts, Any]) -> None:
        """A child that dies while it should run is reported, with its status."""
        handle, _ = hosts
        assert handle.pid is not None
        with capture_logs() as logs:
            os.kill(handle.pid, signal.SIGKILL)
            for _ in range(500):  # hang guard
                if exits(logs):
                    break
                await asyncio.sleep(0.02)
        assert [(e["log_level"], e["status"]) for e in exits(logs)] == [("error", -9)]

    async def test_stop_is_not_reported(self, hosts: tuple[DemoHosts, Any]) -> None:
        """Stopping in order logs no error."""
        handle, _ = hosts
        with capture_logs() as logs:
            assert await handle.stop() == 0
            await asyncio.sleep(0.1)
        assert exits(logs) == []
        assert [e for e in logs if e["log_level"] == "error"] == []

    async def test_refusal_is_reported(self, tmp_path: Path, client_key: ClientKey) -> None:
        """A target that cannot start (IPv6 is refused) fails ``start`` with its reason."""
        handle = DemoHosts()
        with pytest.raises(UnavailableError) as caught:
            await handle.start(tmp_path, "::1", specs(tmp_path, client_key))
        assert caught.value.code == "invalid_field"
        assert caught.value.reason.startswith("host:")
        assert handle.pid is None
