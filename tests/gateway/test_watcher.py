"""Live sessions are cut on revocation, expiry and idleness, with a why-line."""

from __future__ import annotations

import asyncio

import pytest

from broker.gateway.link import CLOSE_WAIT
from broker.gateway.settings import GatewaySettings
from broker.models import Session
from tests.fixtures import openssh
from tests.gateway.conftest import TICKET, Harness

pytestmark = pytest.mark.ssh


async def _live_shell(harness: Harness) -> tuple[Session, asyncio.subprocess.Process]:
    """An ``ssh -tt`` shell through the gateway, proven live by an echo."""
    session = await harness.new_session()
    identity = await harness.issue(session)
    process = await openssh.spawn(harness.ssh_argv(identity, session.id, "-tt"))
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(b"echo live-$((20+22))\n")
    await openssh.read_until(process.stdout, b"live-42")
    return session, process


async def _cut_output(process: asyncio.subprocess.Process) -> bytes:
    """Everything the client prints until the gateway closes it."""
    assert process.stdout is not None
    output = await asyncio.wait_for(process.stdout.read(), 30)
    await asyncio.wait_for(process.wait(), 30)
    return output


class TestTermination:
    """Each reason cuts a live shell; the engineer sees why; the store and events agree."""

    async def test_revocation_cuts_live_shell(self, harness: Harness) -> None:
        """Revoking the session in the store closes the shell with a why-line."""
        session, process = await _live_shell(harness)
        await harness.store.end_session(session.id, "revoked", "revoked", harness.clock.now())
        output = await _cut_output(process)
        assert b"the session was revoked" in output
        assert process.returncode != 0
        closed = await harness.wait_for("session.closed")
        assert closed[0]["reason"] == "revoked"

    async def test_hung_client_is_dropped(self, harness: Harness) -> None:
        """A client that stops reading never answers the close: the gateway drops it anyway."""
        session = await harness.new_session()
        async with harness.asyncssh_shell(session) as (conn, _):
            conn._transport.pause_reading()  # type: ignore[union-attr]  # hangs, as a stuck client
            await harness.store.end_session(session.id, "revoked", "revoked", harness.clock.now())
            closed = await harness.wait_for("session.closed")
        assert closed[0]["reason"] == "revoked"

    def test_close_wait_fits_the_revocation_goal(self) -> None:
        """Poll interval plus the close wait stay under the 1 s revocation-to-close goal."""
        assert GatewaySettings().poll_interval + CLOSE_WAIT < 1.0

    async def test_ticket_closed_cuts_live_shell(self, harness: Harness) -> None:
        """Closing the ticket revokes its sessions; the gateway sees that as revocation."""
        _, process = await _live_shell(harness)
        await harness.store.set_ticket_status(TICKET, "closed", harness.clock.now())
        output = await _cut_output(process)
        assert b"the session was revoked" in output

    async def test_expiry_cuts_live_shell(self, harness: Harness) -> None:
        """At ``valid_before`` the shell is closed and the session marked expired."""
        session, process = await _live_shell(harness)
        harness.clock.advance(16 * 60)
        output = await _cut_output(process)
        assert b"the session has expired" in output
        await harness.wait_for("session.closed")
        assert (await harness.store.get_session(session.id)).state == "expired"

    async def test_idle_timeout_cuts_live_shell(self, harness: Harness) -> None:
        """No traffic for the idle timeout closes the shell."""
        await harness.start(GatewaySettings(idle_timeout=60))
        session, process = await _live_shell(harness)

        async def keep_advancing() -> None:
            # The prompt may still be on its way and count as activity: keep moving time.
            while True:
                harness.clock.advance(61)
                await asyncio.sleep(0.3)

        ticker = asyncio.create_task(keep_advancing())
        try:
            output = await _cut_output(process)
        finally:
            ticker.cancel()
        assert b"idle for too long" in output
        closed = await harness.wait_for("session.closed")
        assert closed[0]["reason"] == "idle_timeout"
        assert (await harness.store.get_session(session.id)).state == "closed"

    async def test_gateway_stop_tells_live_shell(self, harness: Harness) -> None:
        """Stopping the gateway closes live shells with a why-line."""
        _, process = await _live_shell(harness)
        assert harness.gateway is not None
        await harness.gateway.stop()
        harness.gateway = None
        output = await _cut_output(process)
        assert b"shutting down" in output
