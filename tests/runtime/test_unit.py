"""``broker.runtime.unit``: a regional unit's health check and its storage's region tag."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from broker.audit import AuditQuery
from broker.config import Config
from broker.errors import InputError
from broker.runtime.root import Runtime
from broker.runtime.unit import RegionUnit, check_region_storage, writer_id
from broker.store.base import Store
from broker.store.units import UnitRecord
from broker.typing import Region, SessionId, StaffId, TicketId, UnitId
from tests.cli.test_walkthrough import open_session_command
from tests.runtime.roles import Shell, at_port

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


def open_shell(command: str) -> tuple[str, list[str]]:
    """The session id and BatchMode argv of the ssh command the CLI printed."""
    argv = shlex.split(command)
    return argv[-1].split("@")[0], [*argv[:-1], "-o", "BatchMode=yes", argv[-1]]


async def _revoke(store: Store, session_id: SessionId, now: datetime) -> None:
    await store.end_session(session_id, "revoked", "test", now)


async def _close_ticket(store: Store, session_id: SessionId, now: datetime) -> None:
    await store.set_ticket_status(TicketId("T-1001"), "closed", now)


async def _deactivate_staff(store: Store, session_id: SessionId, now: datetime) -> None:
    await store.set_staff_active(StaffId("eng-de-1"), False, now)


END: dict[str, Callable[[Store, SessionId, datetime], Awaitable[None]]] = {
    "revoke": _revoke,
    "close_ticket": _close_ticket,
    "deactivate_staff": _deactivate_staff,
}
"""How the control plane ends a session: each one a store write the unit must see."""


class TestReplicasInOneProcess:
    """Two units of one region on one store and one audit writer (no chain per writer needed)."""

    @pytest.mark.parametrize("end", ["revoke", "close_ticket", "deactivate_staff"])
    async def test_an_end_reaches_the_replica_holding_the_session(
        self, running: Runtime, capsys: pytest.CaptureFixture[str], end: str
    ) -> None:
        """A second replica holds a login made with the first's printed command (same region
        host key); a revocation, a ticket closure or a staff deactivation written to the
        store by the control plane cuts the ssh client there."""
        first = running.units[EU]
        second = RegionUnit(first.parts, EU, UnitId("eu-b"))
        await second.start()
        try:
            session_id, argv = open_shell(await open_session_command(capsys))
            assert second.gateway is not None
            shell = await asyncio.to_thread(
                Shell.open, at_port(argv, second.gateway.port), dict(os.environ)
            )
            try:
                assert running.store is not None
                assert await running.store.held_sessions(EU, UnitId("eu-b")) == [session_id]
                await END[end](running.store, SessionId(session_id), running.clock.now())
                assert await asyncio.to_thread(shell.ended), shell.seen
                session = await running.store.get_session(SessionId(session_id))
                assert session.state == "revoked"
            finally:
                shell.close()
        finally:
            await second.stop()

    async def test_dead_holder_is_taken_over(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A live session whose holder stopped beating: a survivor closes it ``broker_killed``
        (audited) and the gateway still relaying it cuts it."""
        session_id, argv = open_shell(await open_session_command(capsys))
        shell = await asyncio.to_thread(Shell.open, argv, dict(os.environ))
        try:
            assert running.store is not None
            dead = UnitRecord(EU, UnitId("dead-1"), "127.0.0.1:1", "", "", 1, 1, True)
            await running.store.put_unit(dead)
            await running.store.hold_session(SessionId(session_id), EU, UnitId("dead-1"))
            await running.units[EU].take_over_dead()
            session = await running.store.get_session(SessionId(session_id))
            assert (session.state, session.end_reason) == ("closed", "broker_killed")
            assert await asyncio.to_thread(shell.ended), shell.seen
        finally:
            shell.close()
        running.auditor.flush()  # type: ignore[union-attr]
        closed = running.auditor.query(  # type: ignore[union-attr]
            EU, AuditQuery(event="session.closed", session_id=session_id)
        )
        assert any(r.get("reason") == "broker_killed" for r in closed.records)


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


class TestLogsNameTheRegion:
    """An operator running several regions reads the region on every gateway and unit line."""

    async def test_every_gateway_line_names_its_region(
        self,
        running: Runtime,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A session opened, typed in and revoked: each line of the gateway, unit and viewer
        loggers carries ``region``, the cut included."""
        session_id, argv = open_shell(await open_session_command(capsys))
        shell = await asyncio.to_thread(Shell.open, argv, dict(os.environ))
        try:
            assert running.store is not None
            await _revoke(running.store, SessionId(session_id), running.clock.now())
            assert await asyncio.to_thread(shell.ended), shell.seen
        finally:
            shell.close()
        # structlog hands the stdlib handler each event as a dict (``wrap_for_formatter``).
        ours = [r.msg for r in caplog.records if r.name.startswith(REGIONAL_LOGGERS)]
        assert all(isinstance(line, dict) for line in ours)
        assert "gateway.cut" in {line["event"] for line in ours}
        assert [line for line in ours if not line.get("region")] == []
        assert {line["region"] for line in ours if line.get("session_id") == session_id} == {EU}


REGIONAL_LOGGERS = ("broker.gateway", "broker.unit", "broker.viewer")
"""The loggers of a regional unit's parts."""
