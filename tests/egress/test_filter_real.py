"""The egress filter against real programs, end to end through a running broker.

A real terminal (tmux with ``set-clipboard on``) runs the real ``ssh`` through
the gateway to the demo target; a program there writes OSC 52. A control run
without the gateway shows tmux *does* take the clipboard write, so the empty
buffer through the gateway is the filter's doing. A real ``sz`` (lrzsz) on the
target must not get a ZMODEM transfer started.
"""

from __future__ import annotations

import asyncio
import shlex
import shutil
import subprocess
import time
import uuid
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from broker.audit import AuditQuery
from broker.cli import main
from broker.runtime.root import Runtime

OSC52 = r"printf '\033]52;c;%s\a' c2VjcmV0LWNsaXA=; echo DONE-$((2+3))"

# make test installs tmux and lrzsz (.ci/sysdeps): a missing program fails, never skips.
REQUIRED = ("tmux", "sz")


def test_programs_present() -> None:
    """The real programs these tests drive are installed (else run .ci/sysdeps)."""
    assert [name for name in REQUIRED if shutil.which(name) is None] == []


class Tmux:
    """A private tmux server with the clipboard option on."""

    def __init__(self, tmp: Path) -> None:
        self.socket = f"broker-test-{uuid.uuid4().hex[:8]}"
        self.run("-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", "bash", "--norc")
        self.run("set-option", "-g", "set-clipboard", "on")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """One tmux command on this server."""
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def type(self, line: str) -> None:
        """Type a line and press Enter."""
        self.run("send-keys", "-l", line)
        self.run("send-keys", "Enter")

    def wait_for(self, text: str, seconds: float = 30) -> str:
        """The pane's content once ``text`` appears on it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.run("capture-pane", "-p", "-S", "-200").stdout
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared:\n{screen}")

    def buffer(self) -> str:
        """The paste buffer, or '' when tmux has none."""
        shown = self.run("show-buffer")
        return shown.stdout if shown.returncode == 0 else ""

    def kill(self) -> None:
        """Stop the server."""
        self.run("kill-server")


def ssh_command(session_argv: list[str]) -> str:
    """Open a session with the CLI and return its printed ssh command."""
    out = StringIO()
    with redirect_stdout(out):
        assert main(session_argv) == 0
    return out.getvalue().strip().splitlines()[-1]


@pytest.fixture
def tmux(tmp_path: Path):
    """A fresh tmux server, killed afterwards."""
    server = Tmux(tmp_path)
    yield server
    server.kill()


class TestClipboard:
    """OSC 52 written on the target never reaches the engineer's clipboard."""

    def test_control_tmux_takes_osc52_without_gateway(self, tmux: Tmux) -> None:
        """Without the gateway the same write lands in tmux's buffer (the test can fail)."""
        tmux.type(OSC52)
        tmux.wait_for("DONE-5")
        assert tmux.buffer() == "secret-clip"

    async def test_osc52_through_gateway_is_removed(self, running: Runtime, tmux: Tmux) -> None:
        """Through the gateway the buffer stays empty and the block is audited."""
        argv = ["session", "open", "--ticket", "T-1001", "--target", "app-1", "--as", "eng-de-1"]
        command = await asyncio.to_thread(ssh_command, argv)
        tmux.type(command)
        await asyncio.to_thread(tmux.wait_for, "demo-eu-central-1")
        tmux.type(OSC52)
        await asyncio.to_thread(tmux.wait_for, "DONE-5")
        assert tmux.buffer() == ""
        trail = running.auditor.query("eu-central-1", _query("egress.blocked"))  # type: ignore[union-attr]
        assert "osc52" in {r["kind"] for r in trail.records}


class TestZmodem:
    """A real ``sz`` cannot start a transfer to the engineer."""

    async def test_sz_header_never_reaches_client(self, running: Runtime) -> None:
        """The client sees no ZMODEM header; the block is audited as zmodem."""
        argv = ["session", "open", "--ticket", "T-1001", "--target", "app-1", "--as", "eng-de-1"]
        command = shlex.split(await asyncio.to_thread(ssh_command, argv))
        script = "echo secret > f.txt; timeout 5 sz f.txt; echo SZ-DONE-$((1+1)); exit\n"
        done = await asyncio.to_thread(
            subprocess.run, [*command[:-1], "-o", "BatchMode=yes", command[-1]],
            input=script.encode(), capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        assert b"SZ-DONE-2" in done.stdout
        assert b"**\x18B0" not in done.stdout
        assert b"B00000000000000" not in done.stdout
        trail = running.auditor.query("eu-central-1", _query("egress.blocked"))  # type: ignore[union-attr]
        assert "zmodem" in {r["kind"] for r in trail.records}


def _query(event: str) -> AuditQuery:
    return AuditQuery(event=event)
