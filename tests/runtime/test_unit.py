"""``broker.runtime.unit``: a regional unit's health check and its storage's region tag."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest

from broker.config import Config
from broker.errors import InputError
from broker.runtime.root import Runtime
from broker.runtime.unit import check_region_storage, writer_id
from broker.typing import Region

EU = Region("eu-central-1")


async def healthz(runtime: Runtime) -> tuple[int, dict[str, object]]:
    """The EU unit's ``/healthz`` answer."""
    url = f"{runtime.viewers[EU].origin}/healthz"
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        return answer.status, await answer.json()


class TestHealth:
    """``/healthz`` on the unit's viewer port: what an NLB health check reads."""

    async def test_healthy_unit_answers_200(self, running: Runtime) -> None:
        """Gateway listening, store reachable, storage writable: 200 with no reasons."""
        assert await healthz(running) == (200, {"region": EU, "ok": True, "reasons": []})

    async def test_unwritable_recordings_answer_503(self, running: Runtime) -> None:
        """The region's recordings folder cannot be written: 503 naming why, and the
        registry says so (the API sends no session there)."""
        folder = running.config.layout.recordings(EU)
        shutil.rmtree(folder, ignore_errors=True)
        folder.write_text("not a folder")
        status, body = await healthz(running)
        assert (status, body["reasons"]) == (503, ["recordings_unwritable"])
        await running.units[EU].heartbeat()
        assert running.store is not None
        [record] = await running.store.list_units(EU)
        assert record.storage_ok is False


class TestRegionStorage:
    """A unit's local storage names the region it belongs to."""

    def test_untagged_folder_is_tagged(self, tmp_path: Path) -> None:
        """The first start tags the region's folder; the same region passes again."""
        config = Config(state_dir=tmp_path)
        check_region_storage(config, EU)
        assert (tmp_path / "regions" / EU / "region.tag").read_text() == f"{EU}\n"
        check_region_storage(config, EU)

    def test_folder_of_another_region_is_refused(self, tmp_path: Path) -> None:
        """A folder tagged for us-east-1 refuses eu-central-1, naming ``state_dir``."""
        folder = tmp_path / "regions" / EU
        folder.mkdir(parents=True)
        (folder / "region.tag").write_text("us-east-1\n")
        with pytest.raises(InputError) as refused:
            check_region_storage(Config(state_dir=tmp_path), EU)
        assert refused.value.field == "state_dir"


class TestWriterId:
    """The one place a process's audit writer id is chosen."""

    @pytest.mark.parametrize(
        ("role", "expected"),
        [("all", "main"), ("api", "api"), ("region", "unit-eu-a")],
    )
    def test_writer_per_role(self, role: str, expected: str) -> None:
        """``broker run`` is ``main``, the API ``api``, a unit ``unit-<replica id>``."""
        assert writer_id(Config(replica_id="eu-a"), role) == expected
