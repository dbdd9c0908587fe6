"""``broker run`` with ``api_processes = 2``: worker processes serve the API for real.

The runtime starts two API worker processes sharing one port; the main
process keeps the gateways and the audit chains. Grants made through the
workers must be audited in one verifiable chain per region, counted in
``/metrics``, and usable with the OpenSSH client.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncssh
import pytest

from benchmarks.grants import start_broker
from broker.audit import Auditor, AuditQuery
from broker.auth.local import LocalAuthority
from broker.clock import SystemClock
from broker.config import Config
from broker.demo import demo_document
from broker.models import Target
from broker.runtime.root import Runtime
from broker.store.base import ImportBundle
from broker.store.import_bundle import parse_bundle
from broker.typing import Region, TargetName
from tests.api.test_protocol import BAD_REQUESTS, assert_problem_without_echo, exchange
from tests.cli.test_walkthrough import open_session_command, run_ssh

EU = "eu-central-1"


@pytest.fixture
async def workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Runtime]:
    """A local-mode broker whose API is served by two worker processes."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_STATE", str(tmp_path / "state"))
    monkeypatch.delenv("BROKER_API", raising=False)
    runtime = Runtime(Config(state_dir=tmp_path / "state", api_processes=2))
    await runtime.start()
    yield runtime
    await runtime.stop()


def bearer(runtime: Runtime, subject: str, role: str) -> dict[str, str]:
    """An Authorization header with a token the broker's local authority signed."""
    authority = LocalAuthority.from_state(runtime.config.state_dir, clock=SystemClock())
    return {"Authorization": f"Bearer {authority.mint_token(subject, role)}"}


async def grant(runtime: Runtime) -> tuple[int, Any]:
    """One grant for eng-de-1 on a new connection (so the kernel may pick any worker)."""
    key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    body = {"ticket_id": "T-1001", "target": "app-1", "public_key": key}
    headers = bearer(runtime, "eng-de-1", "engineer")
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.post(f"{runtime.api_url}/v1/sessions", json=body, headers=headers) as answer,
    ):
        return answer.status, await answer.json()


async def granted_total(runtime: Runtime) -> int:
    """``broker_sessions_granted_total`` for EU, as ``/metrics`` reports it."""
    async with aiohttp.ClientSession() as http, http.get(f"{runtime.api_url}/metrics") as answer:
        text = await answer.text()
    line = f'broker_sessions_granted_total{{region="{EU}"}} '
    return next((int(row[len(line) :]) for row in text.splitlines() if row.startswith(line)), 0)


class TestApiWorkers:
    """Two API processes behind one port."""

    async def test_workers_listed_and_alive(self, workers: Runtime) -> None:
        """endpoints.json names two live worker processes, neither of them the main one."""
        assert workers.api_workers is not None
        pids = workers.api_workers.pids
        assert len(pids) == 2
        assert os.getpid() not in pids
        for pid in pids:
            os.kill(pid, 0)  # raises if the process is gone

    async def test_concurrent_grants_audited_and_counted(self, workers: Runtime) -> None:
        """24 parallel grants: all issued, all in the region's chain at once, all counted."""
        answers = await asyncio.gather(*(grant(workers) for _ in range(24)))
        assert [status for status, _ in answers] == [201] * 24
        query = {"region": EU, "event": "session.issued", "limit": "100"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{workers.api_url}/v1/audit", params=query, headers=bearer(workers, "ops-1", "ops")
            ) as answer,
        ):
            records = (await answer.json())["items"]
        assert {r["session_id"] for r in records} == {body["session_id"] for _, body in answers}
        assert workers.auditor is not None
        assert workers.auditor.verify(EU).ok
        for _ in range(50):  # each worker pushes its counters every second
            if await granted_total(workers) == 24:
                break
            await asyncio.sleep(0.1)
        assert await granted_total(workers) == 24

    async def test_ssh_with_a_worker_grant(
        self, workers: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The CLI's session from a worker opens a real shell through the main process's gateway."""
        command = await open_session_command(capsys)
        done = await asyncio.to_thread(run_ssh, command, "echo hi-$((6*7))\nexit\n")
        assert "hi-42" in done.stdout

    async def test_killed_worker_is_replaced(self, workers: Runtime) -> None:
        """A worker killed outright: the other keeps serving, and a new one takes its place."""
        assert workers.api_workers is not None
        killed = workers.api_workers.pids[0]
        os.kill(killed, signal.SIGKILL)
        await asyncio.sleep(0.2)
        statuses = [(await grant(workers))[0] for _ in range(6)]
        assert statuses == [201] * 6
        for _ in range(100):
            pids = workers.api_workers.pids
            if len(pids) == 2 and killed not in pids:
                break
            await asyncio.sleep(0.1)
        assert len(workers.api_workers.pids) == 2
        assert killed not in workers.api_workers.pids


def open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` holds open."""
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:"))


async def kept_alive(runtime: Runtime) -> asyncio.StreamWriter:
    """A keep-alive connection that has been answered once (so a worker serves it)."""
    url = urlsplit(runtime.api_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: broker\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    return writer


class TestConnections:
    """The main process accepts and deals connections to the workers in turn."""

    async def test_dealt_evenly(self, workers: Runtime) -> None:
        """Eight keep-alive connections: each worker serves four (a kernel hash would not)."""
        assert workers.api_workers is not None
        pids = workers.api_workers.pids
        before = {pid: open_sockets(pid) for pid in pids}
        writers = [await kept_alive(workers) for _ in range(8)]
        try:
            assert {pid: open_sockets(pid) - before[pid] for pid in pids} == dict.fromkeys(pids, 4)
        finally:
            for writer in writers:
                writer.close()

    async def test_no_worker_no_service(self, workers: Runtime) -> None:
        """Every worker dead (until replaced): a connection is closed unanswered, not held."""
        assert workers.api_workers is not None
        for pid in workers.api_workers.pids:
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.3)  # replacements come after RESTART_DELAY (1 s)
        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(grant(workers), 5)


class TestStop:
    """Stopping the instance."""

    async def test_stop_ends_every_worker(self, tmp_path: Path) -> None:
        """After stop, no worker process is left running."""
        runtime = Runtime(Config(state_dir=tmp_path / "state", api_processes=2, demo_targets=False))
        await runtime.start()
        assert runtime.api_workers is not None
        pids = runtime.api_workers.pids
        await runtime.stop()
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)

    async def test_events_of_requests_in_flight_are_kept(self, tmp_path: Path) -> None:
        """Stopping while grants are in flight: every grant answered 201 is in the chain."""
        runtime = Runtime(Config(state_dir=tmp_path / "state", api_processes=2, demo_targets=False))
        await runtime.start()
        try:
            await runtime.store.import_bundle(demo_app_targets())  # type: ignore[union-attr]
            grants = [asyncio.ensure_future(grant(runtime)) for _ in range(150)]
            for answered, first in enumerate(asyncio.as_completed(grants), 1):
                await first
                if answered == 10:  # stop with the rest still in flight
                    break
        finally:
            await runtime.stop()
        answers = await asyncio.gather(*grants, return_exceptions=True)
        issued_ids = {a[1]["session_id"] for a in answers if isinstance(a, tuple) and a[0] == 201}
        assert issued_ids  # some were answered before the stop
        auditor = Auditor(tmp_path / "state", SystemClock())
        query = AuditQuery(event="session.issued", limit=1000)
        chained = {r["session_id"] for r in auditor.query(Region(EU), query).records}
        assert issued_ids <= chained
        assert auditor.verify(Region(EU)).ok


def demo_app_targets() -> ImportBundle:
    """The demo orgs' ``app-1`` targets, for a runtime started without demo targets."""
    orgs = parse_bundle(demo_document()).orgs
    return ImportBundle(
        targets=[Target(o.id, TargetName("app-1"), o.region, "127.0.0.1", 22) for o in orgs]
    )


class TestMainProcessGone:
    """Fail closed when the process holding the audit chains dies."""

    def test_workers_stop_when_main_is_killed(self, tmp_path: Path) -> None:
        """``broker run`` killed outright: its API workers stop serving within seconds."""
        state = tmp_path / "state"
        main = start_broker(state, api_processes=2)
        try:
            endpoints = json.loads((state / "endpoints.json").read_text())
        finally:
            main.kill()
            main.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in endpoints["api_pids"]):
            time.sleep(0.1)
        assert not any(alive(pid) for pid in endpoints["api_pids"])


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie of another parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class TestProtocolErrorsServed:
    """``broker run`` answers aiohttp's own protocol errors as problem+json, in either mode."""

    async def test_worker_processes(self, workers: Runtime) -> None:
        """Through the worker processes' handed-off connections."""
        port = urlsplit(workers.api_url).port
        for raw in BAD_REQUESTS.values():
            assert_problem_without_echo(await exchange(port, raw))

    async def test_single_process(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Through the main process's own API server (``api_processes = 1``)."""
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        runtime = Runtime(Config(state_dir=tmp_path / "state"))
        await runtime.start()
        try:
            port = urlsplit(runtime.api_url).port
            for raw in BAD_REQUESTS.values():
                assert_problem_without_echo(await exchange(port, raw))
        finally:
            await runtime.stop()
