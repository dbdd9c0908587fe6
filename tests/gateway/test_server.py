"""Login and connection policy: certificates, forwarding, abuse."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncssh
import pytest

from broker.clock import SystemClock
from broker.gateway.link import NO_TERMINAL
from broker.gateway.settings import GatewaySettings
from broker.recording import castfile
from broker.recording.recorder import RecordingStore
from tests.fixtures import openssh
from tests.fixtures.openssh import Identity
from tests.gateway.conftest import (
    OTHER_ORG,
    OTHER_TICKET,
    PERMIT_EVERYTHING,
    REGION,
    SHELL_SCRIPT,
    Harness,
)

pytestmark = pytest.mark.ssh
DENIED = "Permission denied (publickey)"

BadLogin = Callable[[Harness], Awaitable[tuple[Identity, str]]]


async def _expired(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session()
    now = SystemClock().now()
    return h.forge([session.id], valid_after=now - timedelta(hours=2),
                   valid_before=now - timedelta(hours=1)), session.id  # fmt: skip


async def _not_yet_valid(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session()
    now = SystemClock().now()
    return h.forge([session.id], valid_after=now + timedelta(hours=1),
                   valid_before=now + timedelta(hours=2)), session.id  # fmt: skip


async def _other_ca(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session()
    other = asyncssh.generate_private_key("ssh-ed25519")
    return h.forge([session.id], signer=other), session.id


async def _login_mismatch(h: Harness) -> tuple[Identity, str]:
    mine, other = await h.new_session(), await h.new_session()
    return await h.issue(other), mine.id


async def _two_principals(h: Harness) -> tuple[Identity, str]:
    mine, other = await h.new_session(), await h.new_session()
    return h.forge([other.id, mine.id]), mine.id


async def _no_principals(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session()
    return h.forge([]), session.id


async def _revoked(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session()
    identity = await h.issue(session)
    await h.store.end_session(session.id, "revoked", "revoked", h.clock.now())
    return identity, session.id


async def _unknown(h: Harness) -> tuple[Identity, str]:
    ghost = str(uuid.uuid4())
    return h.forge([ghost]), ghost


async def _other_region(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session(org=OTHER_ORG, ticket=OTHER_TICKET)
    return h.forge([session.id]), session.id


async def _serial_mismatch(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session()
    await h.issue(session)
    return h.forge([session.id], serial=12345), session.id


async def _force_command(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session()
    return h.forge([session.id], force_command="/bin/sh"), session.id


async def _plain_key(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session()
    _, path = h.user_key()
    return Identity(path), session.id


async def _session_expired_in_store(h: Harness) -> tuple[Identity, str]:
    session = await h.new_session(minutes=1)
    identity = await h.issue(session)
    h.clock.advance(120)
    return identity, session.id


BAD: dict[str, tuple[BadLogin, str]] = {
    "expired": (_expired, "expired"),
    "not-yet-valid": (_not_yet_valid, "not_yet_valid"),
    "other-region-ca": (_other_ca, "unknown_ca"),
    "login-is-another-session": (_login_mismatch, "principal_mismatch"),
    "two-principals": (_two_principals, "principal_mismatch"),
    "no-principals": (_no_principals, "principal_mismatch"),
    "revoked-session": (_revoked, "session_revoked"),
    "unknown-session": (_unknown, "unknown_session"),
    "session-of-other-region": (_other_region, "wrong_region"),
    "serial-not-the-issued-one": (_serial_mismatch, "serial_mismatch"),
    "force-command": (_force_command, "critical_option"),
    "plain-key": (_plain_key, "not_a_certificate"),
    "session-past-valid-before": (_session_expired_in_store, "expired"),
}


class TestCertificateLogin:
    """Only a good certificate for a live session of this region gets in."""

    async def test_good_certificate_gets_in(self, harness: Harness) -> None:
        """The control case: an issued certificate gives a shell."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(identity, session.id, "-tt", stdin=SHELL_SCRIPT)
        assert "hello-2" in result.text
        await harness.wait_for("session.closed")
        assert (await harness.store.get_session(session.id)).state == "closed"

    @pytest.mark.parametrize("case", sorted(BAD))
    async def test_bad_certificate_refused(self, harness: Harness, case: str) -> None:
        """Each bad certificate is refused and audited with its reason."""
        build, reason = BAD[case]
        identity, login = await build(harness)
        result = await harness.ssh(identity, login, "-tt", stdin=SHELL_SCRIPT)
        assert DENIED in result.text
        assert result.returncode == 255
        assert "hello-2" not in result.text
        failures = await harness.wait_for("auth.failed")
        assert [str(e["reason"]) for e in failures] == [reason]
        assert not harness.events.of("session.connected")

    async def test_certificate_opens_one_connection_only(self, harness: Harness) -> None:
        """A used certificate cannot connect again: the session is no longer issued."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        first = await harness.ssh(identity, session.id, "-tt", stdin=SHELL_SCRIPT)
        second = await harness.ssh(identity, session.id, "-tt", stdin=SHELL_SCRIPT)
        assert "hello-2" in first.text
        assert DENIED in second.text
        assert "session_closed" in harness.auth_failures()

    async def test_permissive_certificate_gets_nothing_more(self, harness: Harness) -> None:
        """A certificate permitting everything still gets a PTY shell and nothing else."""
        session = await harness.new_session()
        assert session.cert_serial is not None
        identity = harness.forge([session.id], serial=session.cert_serial, **PERMIT_EVERYTHING)
        result = await harness.ssh(
            identity, session.id, "-tt", "-X", "-o", "ExitOnForwardFailure=no",
            "-R", "0:127.0.0.1:22", stdin=SHELL_SCRIPT, env={"DISPLAY": "127.0.0.1:0"},
        )  # fmt: skip
        assert "hello-2" in result.text
        assert "X11 forwarding request failed" in result.text
        assert sorted(harness.blocked()) == ["tcpip-forward", "x11"]


class TestViewOnly:
    """A ``view`` session is refused over SSH even with a valid certificate for it."""

    BANNER = "[gateway] this session is view-only: open it in the browser viewer"

    async def test_openssh_sees_one_line_and_is_refused(self, harness: Harness) -> None:
        """OpenSSH prints the one viewer line, is refused, and the refusal is audited."""
        session = await harness.new_session(access="view")
        identity = harness.forge([session.id])  # signed by the region's own CA
        argv = harness.ssh_argv(identity, session.id, "-tt")
        argv[argv.index("LogLevel=ERROR")] = "LogLevel=INFO"  # banners show from INFO up
        result = await openssh.run(argv, SHELL_SCRIPT)
        assert result.returncode == 255
        assert DENIED in result.text
        assert "hello-2" not in result.text
        lines = [line for line in result.text.splitlines() if self.BANNER in line]
        assert lines == [f"{self.BANNER} (broker session resume {session.id})"]
        (failed,) = await harness.wait_for("auth.failed")
        assert (failed["reason"], failed["session_id"]) == ("view_only_session", session.id)
        assert not harness.events.of("session.connected")
        assert (await harness.store.get_session(session.id)).state == "issued"

    async def test_paramiko_gets_the_banner_and_is_refused(self, harness: Harness) -> None:
        """paramiko is refused too and receives the same line as the auth banner."""
        import paramiko

        session = await harness.new_session(access="view")
        identity = harness.forge([session.id])

        def attempt() -> str:
            key = paramiko.Ed25519Key.from_private_key_file(str(identity.key))
            key.load_certificate(str(identity.certificate))
            client = paramiko.SSHClient()
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            client.load_host_keys(str(harness.known_hosts))
            try:
                with pytest.raises(paramiko.AuthenticationException):
                    client.connect("127.0.0.1", harness.port, username=session.id, pkey=key,
                                   look_for_keys=False, allow_agent=False, timeout=20)  # fmt: skip
                transport = client.get_transport()
                assert transport is not None
                banner = transport.get_banner()
                return "" if banner is None else banner.decode()
            finally:
                client.close()

        banner = await asyncio.to_thread(attempt)
        assert banner == f"{self.BANNER} (broker session resume {session.id})\r\n"
        (failed,) = await harness.wait_for("auth.failed")
        assert failed["reason"] == "view_only_session"
        assert not harness.events.of("session.connected")


class TestForwarding:
    """No port forwarding of any kind."""

    async def test_remote_forward_refused(self, harness: Harness) -> None:
        """``-R`` -> remote port forwarding failed."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(
            identity, session.id, "-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:22"
        )
        assert "remote port forwarding failed" in result.text.lower()
        assert harness.blocked() == ["tcpip-forward"]

    async def test_stdio_forward_refused(self, harness: Harness) -> None:
        """``-W`` (and so ``-J`` through the gateway) -> open failed."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        target = f"127.0.0.1:{harness.sshd.port}"
        result = await harness.ssh(identity, session.id, "-W", target)
        assert "forwarding failed" in result.text or "open failed" in result.text
        assert result.returncode == 255
        assert harness.blocked() == ["direct-tcpip"]

    @pytest.mark.parametrize("flag", ["-L", "-D"])
    async def test_local_and_dynamic_forward_refused(self, harness: Harness, flag: str) -> None:
        """``-L`` and ``-D``: the forwarded connection is refused at the gateway."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        local = openssh_free_port()
        spec = f"{local}:127.0.0.1:{harness.sshd.port}" if flag == "-L" else str(local)
        process = await openssh.spawn(harness.ssh_argv(identity, session.id, "-N", flag, spec))
        try:
            writer = await _poke(local, flag)
            await harness.wait_for("egress.blocked")
            writer.close()
        finally:
            process.kill()
            await process.communicate()
        assert harness.blocked() == ["direct-tcpip"]


def openssh_free_port() -> int:
    """A free loopback port for the client's local listener."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _poke(port: int, flag: str) -> asyncio.StreamWriter:
    """Connect through the client's local listener (waiting for it to listen)."""
    for _ in range(1000):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            break
        except OSError:
            await asyncio.sleep(0.02)
    else:
        raise AssertionError("ssh never listened")
    if flag == "-D":  # SOCKS4 CONNECT 127.0.0.1:22
        writer.write(b"\x04\x01\x00\x16\x7f\x00\x00\x01\x00")
    return writer


class TestAbuse:
    """Malformed input and floods close one connection; the gateway serves on."""

    async def test_failed_logins_are_counted_not_each_audited(self, harness: Harness) -> None:
        """30 failed logins from one address: a prompt record, then one counted record."""
        key, _ = harness.user_key()
        for _ in range(30):
            with pytest.raises(asyncssh.PermissionDenied):
                await asyncssh.connect(
                    "127.0.0.1", harness.port, username=str(uuid.uuid4()), client_keys=[key],
                    known_hosts=None, config=None, agent_path=None,
                )  # fmt: skip
        assert len(await harness.wait_for("auth.failed")) == 1
        assert harness.gateway is not None
        await harness.gateway.stop()  # closes the interval: the rest are written, counted
        harness.gateway = None
        records = harness.events.of("auth.failed")
        assert len(records) == 2
        assert sum(int(str(r["count"])) for r in records) == 30
        assert {r["source_ip"] for r in records} == {"127.0.0.1"}

    async def test_garbage_after_banner_closes_only_that_connection(self, harness: Harness) -> None:
        """Junk after the SSH banner is dropped; a real login still works after."""
        reader, writer = await asyncio.open_connection("127.0.0.1", harness.port)
        banner = await reader.readline()
        writer.write(b"SSH-2.0-junk\r\n" + bytes(range(256)) * 64)
        rest = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        assert banner.startswith(b"SSH-2.0-")
        assert b"hello" not in rest
        await self._still_serves(harness)

    async def test_oversized_window_change_closes_connection(self, harness: Harness) -> None:
        """An absurd window-change drops that connection only."""
        session = await harness.new_session()
        async with harness.asyncssh_shell(session) as (conn, process):
            process.change_terminal_size(2**31, 2**31)
            await asyncio.wait_for(conn.wait_closed(), 30)
        closed = await harness.wait_for("session.closed")
        assert closed[0]["reason"] == "malformed_request"
        await self._still_serves(harness)

    async def test_pending_login_flood_does_not_starve_others(self, harness: Harness) -> None:
        """One address holding its pending-login budget cannot lock out another."""
        await harness.start(GatewaySettings(max_pending=8, max_pending_per_source=2))
        held = []
        for _ in range(2):
            conn = await asyncio.open_connection(
                "127.0.0.1", harness.port, local_addr=("127.0.0.2", 0)
            )
            held.append(conn)
        for reader, _ in held:
            assert (await reader.readline()).startswith(b"SSH-2.0-")
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", harness.port, local_addr=("127.0.0.2", 0)
        )
        await asyncio.wait_for(reader.read(), 30)  # returns only once the gateway closed it
        writer.close()
        assert harness.gateway is not None
        assert harness.gateway.ctx.pending == 2
        await self._still_serves(harness)
        for _, held_writer in held:
            held_writer.close()

    async def test_no_shell_within_grace_is_closed(self, harness: Harness) -> None:
        """``ssh -N`` authenticates but opens no terminal: closed after the grace period."""
        await harness.start(GatewaySettings(channel_grace=0.5))
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(identity, session.id, "-N")
        closed = await harness.wait_for("session.closed")
        assert closed[0]["reason"] == "no_session_channel"
        assert result.returncode == 255

    async def test_connection_without_terminal_still_leaves_a_recording(
        self, harness: Harness
    ) -> None:
        """Connected but never a shell (``ssh -N``): a recording says so and why."""
        spool = RecordingStore(harness.tmp / "state", REGION, harness.clock, min_free_bytes=0)
        await harness.start(GatewaySettings(channel_grace=0.5), recorder=spool.open)
        session = await harness.new_session()
        await harness.ssh(await harness.issue(session), session.id, "-N")
        (stored,) = await harness.wait_for("recording.stored")
        assert stored["session_id"] == session.id
        lines = (spool.folder / f"{session.id}.cast").read_bytes().splitlines()
        assert castfile.parse_header(lines[0])["env"]["TERM"] == NO_TERMINAL
        assert [castfile.parse_event(line)[1:] for line in lines[1:]] == [
            ("m", castfile.CLOSED + "no_session_channel")
        ]

    @staticmethod
    async def _still_serves(harness: Harness) -> None:
        """A fresh session still gets a shell."""
        session = await harness.new_session()
        identity = await harness.issue(session)
        result = await harness.ssh(identity, session.id, "-tt", stdin=SHELL_SCRIPT)
        assert "hello-2" in result.text
