"""The channel policy, driven by the real OpenSSH client programs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from broker.gateway.channel import env_allowed, split_env
from tests.fixtures import openssh
from tests.gateway.conftest import SHELL_SCRIPT, Harness

pytestmark = pytest.mark.ssh


class TestEnvRules:
    """Which environment variables reach the target."""

    @pytest.mark.parametrize(
        ("name", "allowed"),
        [("TERM", True), ("LANG", True), ("LC_ALL", True), ("LC_CTYPE", True),
         ("LD_PRELOAD", False), ("PATH", False), ("BASH_ENV", False), ("LANGUAGE", False),
         ("term", False), ("LC_" + "X" * 80, False)],
    )  # fmt: skip
    def test_env_allowed(self, name: str, allowed: bool) -> None:
        """TERM, LANG and LC_* only."""
        assert env_allowed(name) is allowed

    def test_split_env_keeps_only_names_of_refused(self) -> None:
        """Refused variables are reported by name; their values are not kept."""
        allowed, refused = split_env({"LANG": "C", "SECRET": "hunter2"})
        assert allowed == {"LANG": "C"}
        assert refused == ["SECRET"]


class TestRefusals:
    """Every non-terminal use of the session channel is refused, visibly and audited."""

    async def test_exec_refused(self, harness: Harness) -> None:
        """``ssh host cmd`` -> exec request failed."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(identity, session.id, remote=["id"])
        assert "exec request failed on channel 0" in result.text
        assert result.returncode != 0
        assert harness.blocked() == ["exec"]

    async def test_exec_with_pty_refused(self, harness: Harness) -> None:
        """``ssh -tt host cmd``: a PTY does not make exec acceptable."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(identity, session.id, "-tt", remote=["id"])
        assert "exec request failed" in result.text
        assert harness.blocked() == ["exec"]

    async def test_shell_without_pty_refused(self, harness: Harness) -> None:
        """``ssh -T`` -> shell request failed."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(identity, session.id, "-T", stdin=b"echo hi\n")
        assert "shell request failed on channel 0" in result.text
        assert "hi" not in result.stdout.decode()
        assert harness.blocked() == ["shell-without-pty"]

    @pytest.mark.parametrize(
        ("program", "legacy", "message", "kind"),
        [("scp", True, "exec request failed", "exec"),
         ("scp", False, "subsystem request failed", "subsystem"),
         ("sftp", False, "subsystem request failed", "subsystem")],
    )  # fmt: skip
    async def test_file_transfer_refused(
        self, harness: Harness, tmp_path: Path, program: str, legacy: bool, message: str, kind: str
    ) -> None:
        """scp (both modes) and sftp cannot move a file."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        dest = tmp_path / "copied"
        remote = f"{session.id}@127.0.0.1"
        args = (
            ["-b", "-", remote]
            if program == "sftp"
            else [*(["-O"] if legacy else []), f"{remote}:/etc/hostname", str(dest)]
        )
        argv = openssh.file_argv(program, harness.endpoint(), identity, *args)
        result = await openssh.run(argv, stdin=b"get /etc/hostname " + str(dest).encode() + b"\n")
        assert message in result.text
        assert result.returncode != 0
        assert not dest.exists()
        assert kind in harness.blocked()

    async def test_env_other_than_locale_dropped(self, harness: Harness) -> None:
        """SetEnv of anything but TERM/LANG/LC_* is audited and never reaches the shell."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        script = b'echo "v=[$GW_SECRET] l=[$LC_PAPER]"; exit\n'
        result = await harness.ssh(
            identity, session.id, "-tt", "-o", "SetEnv=GW_SECRET=x LC_PAPER=y", stdin=script
        )
        assert "v=[]" in result.text
        assert [e["detail"] for e in harness.events.of("egress.blocked")] == ["GW_SECRET"]

    async def test_agent_forwarding_refused(self, harness: Harness, tmp_path: Path) -> None:
        """``-A`` is silent on the client, audited, and the shell has no agent socket."""
        sock = tmp_path / "agent.sock"
        agent = await asyncio.create_subprocess_exec(
            "ssh-agent", "-D", "-a", str(sock), stdout=asyncio.subprocess.DEVNULL
        )
        try:
            while not sock.exists():  # noqa: ASYNC110 - waiting on another process's socket
                await asyncio.sleep(0.02)
            session = await harness.new_session()
            identity = await harness.issue(session)
            script = b'echo "sock=[$SSH_AUTH_SOCK]"; exit\n'
            argv = harness.ssh_argv(identity, session.id, "-tt", "-A")
            # IdentityAgent=none would also stop forwarding: point it at the agent.
            argv[argv.index("IdentityAgent=none")] = f"IdentityAgent={sock}"
            result = await openssh.run(argv, script)
        finally:
            agent.terminate()
            await agent.wait()
        assert "sock=[]" in result.text
        assert result.returncode == 0
        assert harness.blocked() == ["auth-agent"]

    async def test_x11_refused(self, harness: Harness) -> None:
        """``-X`` -> X11 forwarding request failed."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(
            identity, session.id, "-tt", "-X", stdin=SHELL_SCRIPT, env={"DISPLAY": "127.0.0.1:0"}
        )
        assert "X11 forwarding request failed" in result.text
        assert "hello-2" in result.text
        assert harness.blocked() == ["x11"]
