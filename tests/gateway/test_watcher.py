"""Live sessions are cut on revocation, expiry and idleness, with a why-line."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from broker.gateway.hooks import NullRecorder
from broker.gateway.link import CLOSE_WAIT
from broker.gateway.settings import GatewaySettings
from broker.gateway.watch_thread import SHUT_DOWN_AFTER
from broker.models import Session
from tests.fixtures import openssh
from tests.fixtures.waiting import poll_until
from tests.gateway.conftest import REGION, TICKET, Harness

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
        """Poll plus the close wait, and poll plus the socket backstop, stay under 1 s."""
        assert GatewaySettings().poll_interval + CLOSE_WAIT < 1.0
        assert GatewaySettings().poll_interval + SHUT_DOWN_AFTER < 1.0

    async def test_ticket_closed_cuts_live_shell(self, harness: Harness) -> None:
        """Closing the ticket revokes its sessions; the gateway sees that as revocation."""
        _, process = await _live_shell(harness)
        await harness.store.set_ticket_status(TICKET, "closed", harness.clock.now())
        output = await _cut_output(process)
        assert b"the session was revoked" in output

    @pytest.mark.parametrize("move", ["advance", "jump"])
    async def test_expiry_cuts_live_shell(self, harness: Harness, move: str) -> None:
        """At ``valid_before`` the shell is closed and the session marked expired.

        ``jump``: the wall clock stepped forward past it (no time passed) ends it too."""
        session, process = await _live_shell(harness)
        getattr(harness.clock, move)(16 * 60)
        output = await _cut_output(process)
        assert b"the session has expired" in output
        await harness.wait_for("session.closed")
        assert (await harness.store.get_session(session.id)).state == "expired"

    @pytest.mark.parametrize("step", [0, -3600], ids=["steady", "clock-stepped-back"])
    async def test_idle_timeout_cuts_live_shell(self, harness: Harness, step: int) -> None:
        """No traffic for the idle timeout closes the shell, however the wall clock was stepped."""
        await harness.start(GatewaySettings(idle_timeout=60))
        session, process = await _live_shell(harness)
        harness.clock.jump(step)

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


def _stuck_until(done: Callable[[], bool], seconds: float) -> bool:
    """Block the calling (gateway's) loop until ``done()`` or ``seconds`` pass."""
    return poll_until(done, seconds)


class TestOwnThread:
    """The watcher polls and cuts from its own thread, however stuck the gateway's loop."""

    async def test_client_cut_while_the_loop_is_stuck(self, harness: Harness) -> None:
        """A revoked session's ssh client is disconnected while the gateway's loop never runs."""
        session, process = await _live_shell(harness)
        await harness.store.end_session(session.id, "revoked", "revoked", harness.clock.now())
        # The reaper thread of asyncio's child watcher removes the exited client from /proc.
        assert _stuck_until(lambda: not Path(f"/proc/{process.pid}").exists(), 10)
        await _cut_output(process)
        closed = await harness.wait_for("session.closed")
        assert closed[0]["reason"] == "revoked"

    async def test_nothing_relayed_after_the_cut(self, harness: Harness) -> None:
        """Output the target sent while the loop was stuck is neither relayed nor recorded."""
        recorder = TimedRecorder()
        await harness.start(recorder=lambda _s: recorder)
        session, process = await _live_shell(harness)
        assert process.stdin is not None
        process.stdin.write(b"while :; do echo tick; sleep 0.02; done\n")
        await asyncio.sleep(0.3)
        assert recorder.out, "the shell's ticks were recorded before the cut"
        assert harness.gateway is not None
        link = harness.gateway.ctx.links[session.id]
        await harness.store.end_session(session.id, "revoked", "revoked", harness.clock.now())
        assert _stuck_until(lambda: link.severed is not None, 5)
        severed_at = time.monotonic()
        _stuck_until(lambda: False, 1.0)  # still stuck: ticks pile up in the target leg
        await _cut_output(process)
        await harness.wait_for("session.closed")
        assert max(recorder.out) < severed_at

    async def test_stop_ends_the_thread(self, harness: Harness) -> None:
        """A started gateway has its watcher thread; stopping it ends the thread."""
        assert "watcher-" + REGION in _thread_names()
        assert harness.gateway is not None
        await harness.gateway.stop()
        harness.gateway = None
        assert "watcher-" + REGION not in _thread_names()

    async def test_failing_tick_fails_closed(
        self, harness: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A tick that raises something unexpected counts as an unreadable store."""
        _, process = await _live_shell(harness)
        assert harness.gateway is not None
        harness.gateway.watcher.stale_after = 0.3

        async def broken(*_args: object) -> None:
            raise RuntimeError("a bug in the store")

        monkeypatch.setattr(harness.store, "ended_sessions", broken)
        harness.clock.advance(1)  # the gateway's clock: past ``stale_after`` from the last read
        output = await _cut_output(process)
        assert b"cannot confirm the session is still valid" in output


def _thread_names() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


class TimedRecorder(NullRecorder):
    """Keeps the monotonic time of every recorded output."""

    def __init__(self) -> None:
        self.out: list[float] = []

    def output(self, data: bytes) -> None:
        """Note when output was recorded."""
        self.out.append(time.monotonic())


class TestClockJumps:
    """The wall clock stepped back lengthens nothing.

    Stepped forward past expiry, and stepped back against idleness: in ``TestTermination``."""

    async def test_a_backward_step_does_not_extend_the_session(self, harness: Harness) -> None:
        """Stepped back an hour, then 16 minutes really pass: expired all the same."""
        session, process = await _live_shell(harness)
        harness.clock.jump(-3600)
        harness.clock.advance(16 * 60)
        assert harness.clock.now() < session.valid_before  # the wall clock alone would wait
        output = await _cut_output(process)
        assert b"the session has expired" in output
