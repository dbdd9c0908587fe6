"""The recordings or the audit file system full: a small tmpfs mounted by the test.

New sessions are refused with a reason, live ones end cleanly (cut, closed in
the store, the shell told why), and nothing written is corrupt: after space is
freed a restart opens the same folders and ``broker audit verify`` passes.
Mounting needs root, as CI has; elsewhere these tests are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from broker.config import Config
from broker.recording.files import read_info, region_recording
from broker.runtime.root import Runtime
from broker.typing import Region, SessionId
from tests.cli.test_walkthrough import cli, open_session_command
from tests.faults.broker_process import Shell
from tests.fixtures.waiting import poll_until

REGION = Region("eu-central-1")
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a tmpfs needs root (CI runs the suite as root)"
)


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``where`` for the block."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True, capture_output=True)


def fill(folder: Path) -> Path:
    """Write a filler file until the file system is full; returns it (delete it to free)."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as stream:
        for size in (65536, 4096, 512, 1):  # down to the last partial block
            assert _write_until_full(stream, b"\0" * size).errno == errno.ENOSPC
    return filler


def _write_until_full(stream: BinaryIO, chunk: bytes) -> OSError:
    while True:
        try:
            stream.write(chunk)
        except OSError as error:
            return error


@contextlib.asynccontextmanager
async def broker(state: Path) -> AsyncIterator[Runtime]:
    """A local-mode broker on ``state`` for the block."""
    runtime = Runtime(Config(state_dir=state))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def live_shell(capsys: pytest.CaptureFixture[str]) -> tuple[SessionId, Shell]:
    """A granted session with a real ssh shell open on it."""
    command = await open_session_command(capsys)
    shell = Shell(command, dict(os.environ))
    shell.type("echo live-$((6*7))\n")
    assert await asyncio.to_thread(shell.shows, "live-42")
    return SessionId(command.split()[-1].split("@")[0]), shell


async def session_state(capsys: pytest.CaptureFixture[str], session_id: str) -> str:
    """The session's state and end reason, as ``broker session show`` reports them."""
    _, out, _ = await cli(capsys, "session", "show", session_id, "--as", "eng-de-1")
    return out


async def verify_after_restart(state: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Open the same folders again (space freed), stop cleanly, then ``audit verify``."""
    async with broker(state):
        pass
    status, out, _ = await cli(capsys, "audit", "verify", "--state", str(state))
    assert status == 0, out
    return out


class TestRecordingsFull:
    """The recordings file system fills while a session is live."""

    async def test_live_cut_new_refused_nothing_corrupt(
        self, state: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The live shell is cut (recording_unavailable); a new one is refused; all verifies."""
        with tmpfs(state / "regions" / REGION / "recordings", "24m") as folder:
            async with broker(state):
                session_id, shell = await live_shell(capsys)
                try:
                    filler = fill(folder)
                    shell.type("head -c 3000000 /dev/zero | tr '\\0' x; echo\n")
                    assert await asyncio.to_thread(shell.ended), "the live shell was not cut"
                finally:
                    shell.close()
                assert b"the session cannot be recorded" in shell.output
                assert "closed" in await session_state(capsys, session_id)
                refused = Shell(await open_session_command(capsys), dict(os.environ))
                assert await asyncio.to_thread(refused.ended)
                refused.close()
                assert refused.process.returncode != 0
                assert b"the session cannot be recorded" in refused.output
            info = read_info(region_recording(state, REGION, session_id), REGION)
            assert info.counts["o"] >= 1  # what was written before the disk filled reads back
            filler.unlink()
            await verify_after_restart(state, capsys)


class TestAuditFull:
    """The audit trail's file system fills while a session is live."""

    async def test_live_cut_new_refused_chain_intact(
        self, state: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Once the trail cannot be written: the live shell is cut, new grants get 503."""
        with tmpfs(state / "regions" / REGION / "audit", "1m") as folder:
            async with broker(state) as runtime:
                _, shell = await live_shell(capsys)
                try:
                    filler = fill(folder)
                    await cli(capsys, "session", "open", "--ticket", "T-1001", "--target",
                              "app-1", "--as", "eng-br-1")  # fmt: skip
                    assert await asyncio.to_thread(
                        poll_until,
                        lambda: not runtime.auditor.writable(REGION),
                        10,  # type: ignore[union-attr]
                    )
                    assert await asyncio.to_thread(shell.ended), "the live shell was not cut"
                finally:
                    shell.close()
                assert b"the session cannot be audited" in shell.output
                status, _, err = await cli(capsys, "session", "open", "--ticket", "T-1001",
                                           "--target", "app-1", "--as", "eng-de-1")  # fmt: skip
                assert status != 0
                assert "audit" in err
            filler.unlink()
            out = await verify_after_restart(state, capsys)
            assert f"{REGION}/main: ok (" in out
