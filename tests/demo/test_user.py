"""The demo shell's own unprivileged user, and what it can no longer read."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from broker.demo import user as demo_user
from broker.demo.target import HOME_FILES, DemoTarget
from broker.demo.user import DEMO_USER, give_home, shell_account
from broker.errors import UnavailableError
from broker.runtime.root import Runtime
from tests.cli.test_walkthrough import open_session_command, run_ssh
from tests.demo.conftest import ClientKey

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root can switch users")


class TestShellAccount:
    """Which account the demo shell runs as."""

    @as_root
    def test_root_gets_the_demo_user(self) -> None:
        """As root: broker-demo, created if missing, never uid 0."""
        account = shell_account()
        assert account is not None
        assert account.name == DEMO_USER
        assert account.uid != 0
        assert account.gid != 0

    def test_not_root_warns_loudly(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """As anyone else: no switch, and a warning that names the risk."""
        monkeypatch.setattr(demo_user.os, "geteuid", lambda: 1000)
        with capture_logs() as logs:
            assert shell_account() is None
        (warning,) = [e for e in logs if e["log_level"] == "warning"]
        assert warning["event"] == "demo.shells_not_isolated"
        assert "CA keys" in warning["warning"]
        assert "token-signing key" in warning["warning"]


class TestGiveHome:
    """The way to the demo HOME: traverse-only folders; keys stay private."""

    @as_root
    def test_layout(self, tmp_path: Path) -> None:
        """HOME is the user's; folders above are o+x only; keys and store stay private."""
        account = shell_account()
        assert account is not None
        state = tmp_path / "state"
        home = state / "regions" / "eu-central-1" / "demo-target" / "home"
        ca = state / "regions" / "eu-central-1" / "ca"
        for folder in (home, ca):
            folder.mkdir(parents=True, mode=0o700)
        state.chmod(0o700)  # as the broker makes it
        (state / "broker.db").write_bytes(b"")
        for name in HOME_FILES:
            (home / name).write_text("made by the broker")
        give_home(account, state, home, HOME_FILES)
        assert home.stat().st_uid == account.uid
        assert {(home / name).stat().st_uid for name in HOME_FILES} == {account.uid}
        assert stat.S_IMODE(state.stat().st_mode) & 0o077 == 0o011
        assert stat.S_IMODE(ca.stat().st_mode) == 0o700
        assert stat.S_IMODE((state / "broker.db").stat().st_mode) == 0o600

    @as_root
    def test_private_folder_above_state_refuses(self, tmp_path: Path) -> None:
        """A folder above the state folder that others cannot pass: refused, not changed."""
        account = shell_account()
        assert account is not None
        private = tmp_path / "private"
        home = private / "state" / "home"
        home.mkdir(parents=True)
        private.chmod(0o700)
        with pytest.raises(UnavailableError) as caught:
            give_home(account, private / "state", home, HOME_FILES)
        assert caught.value.code == "demo_home_unreachable"
        assert stat.S_IMODE(private.stat().st_mode) == 0o700


class TestHomeFiles:
    """The broker's files in a HOME its shell user owns."""

    def test_symlink_left_in_place_is_not_followed(
        self, tmp_path: Path, client_key: ClientKey
    ) -> None:
        """A .bash_profile swapped for a symlink to another file: replaced, target intact."""
        victim = tmp_path / "victim"
        victim.write_text("root's own file")
        base = tmp_path / "demo-target"
        DemoTarget("eu-central-1", base, [client_key.public])
        profile = base / "home" / ".bash_profile"
        profile.unlink()
        profile.symlink_to(victim)
        DemoTarget("eu-central-1", base, [client_key.public])
        assert victim.read_text() == "root's own file"
        assert not profile.is_symlink()
        assert "eu-central-1" in profile.read_text()


@as_root
class TestThroughRealSession:
    """Through a real ssh session into the demo target of a running broker."""

    async def test_shell_cannot_read_keys(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The shell runs as broker-demo and `cat` of the CA and token keys is denied."""
        state = running.config.state_dir.resolve()
        ca_key = next((state / "regions" / "eu-central-1" / "ca").iterdir())
        token_key = state / "auth" / "jwt-signing.pem"
        command = await open_session_command(capsys)
        script = f"id -un; pwd; cat {ca_key}; cat {token_key}; echo done-$((6*7)); exit\n"
        done = await asyncio.to_thread(run_ssh, command, script)
        out = done.stdout
        assert DEMO_USER in out
        assert "demo-target/home" in out
        assert out.count("Permission denied") >= 2
        assert "PRIVATE KEY" not in out
        assert "done-42" in out
        assert ca_key.read_bytes().startswith(b"-----BEGIN")  # the keys are there to read
