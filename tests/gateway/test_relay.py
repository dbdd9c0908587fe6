"""The relay: a real OpenSSH client, through the gateway, to a real sshd."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import cast

import asyncssh
import pytest

from broker.egress.blocked import Blocked, Kind
from broker.gateway.hooks import NullRecorder
from broker.gateway.keys import GatewayKeys
from broker.gateway.link import Link
from broker.gateway.relay import Relay
from broker.gateway.settings import GatewaySettings
from broker.gateway.upstream import RelayRefused
from broker.store.base import ImportBundle
from tests.fixtures import openssh
from tests.fixtures.sshd import TEST_SETTINGS, free_port, start_sshd, stop_sshd
from tests.gateway.conftest import SHELL_SCRIPT, Harness, reference_data

pytestmark = pytest.mark.ssh


class TestShell:
    """A PTY shell reaches the target and its exit comes back."""

    async def test_ssh_tt_runs_a_shell_and_relays_exit_status(self, harness: Harness) -> None:
        """``ssh -tt`` gets a shell on the target; the exit status is relayed."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(identity, session.id, "-tt", stdin=SHELL_SCRIPT)
        assert "hello-2" in result.text
        assert result.returncode == 3
        closed = await harness.wait_for("session.closed")
        assert closed[0]["reason"] == "shell_exited"
        assert closed[0]["bytes_in"] == len(SHELL_SCRIPT)
        assert int(str(closed[0]["bytes_out"])) > 0


class TestTargetProblems:
    """A target the gateway cannot reach ends the session with one line."""

    async def test_unreachable_target_reported(self, harness: Harness) -> None:
        """The engineer sees why; ``relay.failed`` is emitted."""
        bundle = reference_data(harness.sshd)
        dead = [replace(t, port=free_port()) for t in bundle.targets]
        await harness.store.import_bundle(ImportBundle(targets=dead))
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(identity, session.id, "-tt", stdin=SHELL_SCRIPT)
        assert "the target host cannot be reached" in result.text
        assert "hello-2" not in result.text
        failed = await harness.wait_for("relay.failed")
        assert failed[0]["reason"] == "target_unreachable"

    async def test_target_refusing_a_pty_reported(
        self, harness: Harness, tmp_path: Path, gateway_keys: GatewayKeys
    ) -> None:
        """An sshd with ``PermitTTY no`` refuses the shell's PTY: the same line and event."""
        settings = {**TEST_SETTINGS, "PermitTTY": "no"}
        no_tty = start_sshd(tmp_path / "no-tty", [gateway_keys.client_public()], settings)
        try:
            bundle = reference_data(no_tty)
            await harness.store.import_bundle(ImportBundle(targets=bundle.targets))
            session = await harness.new_session()
            identity = await harness.issue(session)
            result = await harness.ssh(identity, session.id, "-tt", stdin=SHELL_SCRIPT)
        finally:
            stop_sshd(no_tty)
        assert "the target host cannot be reached" in result.text
        failed = await harness.wait_for("relay.failed")
        assert failed[0]["reason"] == "target_unreachable"
        assert failed[0]["detail"] == "ChannelOpenError"
        closed = await harness.wait_for("session.closed")
        assert closed[0]["reason"] == "target_unreachable"

    async def test_engineer_gone_while_connecting_is_no_relay_failure(
        self, harness: Harness
    ) -> None:
        """The engineer hangs up while the target is still answering: no ``relay.failed``."""
        await harness.start(GatewaySettings(connect_timeout=1.0))
        reached, dropped = asyncio.Event(), asyncio.Event()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            reached.set()  # a target that never sends its banner
            await reader.read()
            dropped.set()
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        targets = [replace(t, port=port) for t in reference_data(harness.sshd).targets]
        await harness.store.import_bundle(ImportBundle(targets=targets))
        session = await harness.new_session()
        identity = await harness.issue(session)
        process = await openssh.spawn(harness.ssh_argv(identity, session.id, "-tt"))
        await asyncio.wait_for(reached.wait(), 30)
        process.kill()
        await process.wait()
        closed = await harness.wait_for("session.closed")
        await asyncio.wait_for(dropped.wait(), 30)  # the gateway gave up on the target
        await asyncio.sleep(0.1)
        server.close()
        assert closed[0]["reason"] == "client_closed"
        assert harness.events.of("relay.failed") == []


class _ClosingTarget:
    """A target connection whose shell open trips as asyncssh does on a closed channel."""

    async def create_session(self, *args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'session_started'")


TARGET = cast(asyncssh.SSHClientConnection, _ClosingTarget())
NO_CHANNEL = cast(asyncssh.SSHServerChannel[bytes], None)


class TestShellOpenRace:
    """The engineer leaving while the target shell opens is a quiet refusal, nothing else."""

    async def test_closed_leg_is_a_refusal(self) -> None:
        """After ``close`` (the engineer left), asyncssh's slip becomes ``RelayRefused``."""
        relay = Relay(cast(Link, None), cast(asyncssh.SSHServerChannel[bytes], None))
        relay.close()
        with pytest.raises(RelayRefused):
            await relay._shell(
                cast(asyncssh.SSHClientConnection, _ClosingTarget()), "xterm", (80, 24, 0, 0), {}
            )

    async def test_open_leg_is_not_masked(self) -> None:
        """While the engineer is still there, the same error is a bug and surfaces."""
        relay = Relay(cast(Link, None), cast(asyncssh.SSHServerChannel[bytes], None))
        with pytest.raises(AttributeError):
            await relay._shell(
                cast(asyncssh.SSHClientConnection, _ClosingTarget()), "xterm", (80, 24, 0, 0), {}
            )


class UpperFilter:
    """A test filter: blocks the word SECRET, passes the rest."""

    def feed(self, data: bytes) -> tuple[bytes, list[Blocked]]:
        """Remove every SECRET, reporting each as an ``osc-other`` block."""
        count = data.count(b"SECRET")
        return data.replace(b"SECRET", b""), [Blocked(Kind.OSC_OTHER, 0, 6)] * count

    def flush(self) -> tuple[bytes, list[Blocked]]:
        """Nothing is held."""
        return b"", []


class ListRecorder(NullRecorder):
    """A test recorder keeping everything in lists (and no file)."""

    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.inp: list[bytes] = []
        self.markers: list[str] = []

    def output(self, data: bytes) -> None:
        """Keep output."""
        self.out.append(data)

    def input(self, data: bytes) -> None:
        """Keep input."""
        self.inp.append(data)

    def resize(self, width: int, height: int) -> None:
        """Keep resizes as markers."""
        self.markers.append(f"resize {width}x{height}")

    def marker(self, text: str) -> None:
        """Keep markers."""
        self.markers.append(text)

    def start(
        self, term: str, width: int, height: int, *, record_input: bool | None = None
    ) -> None:
        """Keep the start as a marker."""
        self.markers.append(f"start {term} {width}x{height}")

    def close(self, reason: str) -> None:
        """Keep the close as a marker."""
        self.markers.append(f"closed: {reason}")


class TestSeams:
    """Output goes through the filter; the recorder sees the filtered stream."""

    async def test_filter_and_recorder(self, harness: Harness) -> None:
        """A blocked sequence never reaches the engineer nor the recording."""
        recorder = ListRecorder()
        await harness.start(output_filter=lambda _s: UpperFilter(), recorder=lambda _s: recorder)
        session = await harness.new_session()
        identity = await harness.issue(session)
        script = b"printf 'a%sb\\n' SEC''RET; exit\n"
        result = await harness.ssh(identity, session.id, "-tt", stdin=script)
        await harness.wait_for("session.closed")
        assert "ab" in result.stdout.decode()
        assert b"SECRET" not in result.stdout
        assert b"SECRET" not in b"".join(recorder.out)
        assert b"".join(recorder.inp) == script
        assert Blocked(Kind.OSC_OTHER, 0, 6).marker() in recorder.markers
        assert "osc-other" in harness.blocked()
        assert recorder.markers[0].startswith("start ")
        assert recorder.markers[-1] == "closed: shell_exited"


class TestParamiko:
    """paramiko as a second, independent client."""

    @staticmethod
    def _client(harness: Harness, identity, login: str):
        import paramiko

        key = paramiko.Ed25519Key.from_private_key_file(str(identity.key))
        key.load_certificate(str(identity.certificate))
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.load_host_keys(str(harness.known_hosts))
        client.connect("127.0.0.1", harness.port, username=login, pkey=key,
                       look_for_keys=False, allow_agent=False, timeout=20)  # fmt: skip
        return client

    async def test_invoke_shell_works_exec_and_tunnel_refused(self, harness: Harness) -> None:
        """invoke_shell runs; exec_command and direct-tcpip are refused."""
        import paramiko

        session = await harness.new_session()
        identity = await harness.issue(session)

        def drive() -> tuple[bytes, str, str]:
            client = self._client(harness, identity, session.id)
            try:
                with pytest.raises(paramiko.SSHException) as exec_error:
                    client.exec_command("id")
                transport = client.get_transport()
                assert transport is not None
                with pytest.raises(paramiko.ChannelException) as tunnel_error:
                    transport.open_channel(
                        "direct-tcpip", ("127.0.0.1", harness.sshd.port), ("127.0.0.1", 0)
                    )
                return b"", str(exec_error.value), str(tunnel_error.value)
            finally:
                client.close()

        def shell() -> bytes:
            client = self._client(harness, identity, session.id)
            try:
                chan = client.invoke_shell()
                chan.settimeout(20)
                chan.send(b"echo para-$((3+4)); exit\n")
                seen = b""
                while b"para-7" not in seen:
                    chunk = chan.recv(4096)
                    if not chunk:
                        break
                    seen += chunk
                return seen
            finally:
                client.close()

        _, exec_error, tunnel_error = await asyncio.to_thread(drive)
        assert "exec" in harness.blocked()
        assert "direct-tcpip" in harness.blocked()
        assert exec_error
        assert "Administratively prohibited" in tunnel_error
        session = await harness.new_session()  # the first session's certificate is spent
        identity = await harness.issue(session)
        assert b"para-7" in await asyncio.to_thread(shell)
