"""One view session in the region: the same link, relay and watcher as SSH.

A ``ViewerSession`` is the session's endpoint (the link tells it why and
closes it), and its ``ScreenFront`` is the relay's front end (filtered output
goes into the region's ``TerminalView``). It outlives any one browser
connection: a page that reloads or loses its socket leaves the shell running,
detached, and a fresh link from ``broker session resume`` attaches a new
page (closing an older one still open). While detached, target output is not
activity, so the watcher's idle bound ends a session nobody comes back to.
Any end (watcher cut, shell exit, gateway stop) tells the attached page why,
closes its socket and the target leg, and writes the session's end, once.
Read-only watchers (``broker.viewer.watch``) get the same output on their own
views; the engineer's status bar names them. With ``watch_required`` (the
org's ``require_watch`` on an EEA ticket) the engineer's keys and pastes are
held back (refused, ``waiting_for_watcher``) and the status bar says so until
one of the org's customer admins watches, and again once the last one left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from broker.errors import BrokerError, InputError
from broker.gateway.context import GatewayContext, log
from broker.gateway.link import Link
from broker.gateway.relay import Relay
from broker.models import Session
from broker.viewer.page import Page
from broker.viewer.terminal import TerminalView, Watermark
from broker.viewer.watch import Watchers

TERM_TYPE = "xterm-256color"
START_SIZE = (80, 24)
"""The grid before the page reports its own (right after ``ready``)."""
PAGE_END: dict[str, str] = {
    "revoked": "revoked",
    "revoked_by_api": "revoked",
    "ticket_closed": "ticket_closed",
    "consent_revoked": "consent_revoked",
    "staff_deactivated": "staff_deactivated",
    "expired": "expired",
    "idle_timeout": "idle",
    "shell_exited": "exited",
    "target_unreachable": "target_unreachable",
    "target_refused": "target_unreachable",
    "gateway_stopping": "shutdown",
    "store_unavailable": "unavailable",
    "audit_unavailable": "unavailable",
    "recording_unavailable": "recording",
    "recordings_unreachable": "recording",
    "replaced": "replaced",
}
"""Link reason code -> the page's end code (``protocol.END_REASONS``); others: ``error``."""
WAITING_BANNER = "waiting for the customer's admin to watch: input held"
PAUSED_BANNER = "paused: the customer's admin stopped watching"
REFINE_WAIT = 0.3
"""Seconds spent asking the store which revocation it was (ticket, consent, ops)."""


def page_end(reason: str) -> str:
    """The page's end code for a link's reason code."""
    return PAGE_END.get(reason, "error")


class ViewerSession:
    """The live state of one view session: link, relay, screen, attached page."""

    def __init__(
        self, ctx: GatewayContext, session: Session, source_ip: str, *, watch_required: bool = False
    ) -> None:
        self.ctx = ctx
        self.watch_required = watch_required
        self._admin_seen = False
        mark = Watermark(staff_id=session.staff_id, session_id=session.id)
        self.view = TerminalView(*START_SIZE, watermark=mark)
        self.link: Link[ViewerSession] = Link(ctx, session, self, source_ip, 0)
        self.relay = Relay(self.link, ScreenFront(self))
        self.link.relay = self.relay
        self.link.shell_started = True
        self.attached: Page | None = None
        self.watchers = Watchers(self.link, self.view, self.status_changed)
        self.status_changed()
        self.on_closed: Callable[[], None] | None = None
        """Called once the session has ended (the viewer forgets it)."""
        self._end = "error"
        self._closed = False

    @property
    def session(self) -> Session:
        """The session viewed."""
        return self.link.session

    @property
    def closed(self) -> bool:
        """Whether the session is ending."""
        return self._closed

    def start(self) -> None:
        """Open the target shell (input waits until it is up)."""
        cols, rows = self.view.size
        self.ctx.spawn(self.relay.run(TERM_TYPE, (cols, rows, 0, 0), {}))

    # -- pages ---------------------------------------------------------------
    async def attach(self, page: Page) -> None:
        """Make ``page`` the one live viewer; an older page is told and closed."""
        old, self.attached = self.attached, page
        if old is not None:
            await old.end("replaced")
        self.link.attached = True
        self.link.last_activity = self.ctx.clock.monotonic()
        self.view.repaint()
        await page.show(self.view)

    def status_changed(self) -> None:
        """Who watches changed: every status bar says so (and whether input is held)."""
        self._admin_seen |= self.watchers.has_customer_admin()
        banner = self._banner()
        self.view.set_status(watchers=self.watchers.ids(), banner=banner)
        self.watchers.set_status(banner)
        self._wake()

    @property
    def waiting(self) -> bool:
        """Whether the engineer's input is held until a customer admin watches."""
        return self.watch_required and not self.watchers.has_customer_admin()

    def _banner(self) -> str | None:
        if not self.waiting:
            return None
        return PAUSED_BANNER if self._admin_seen else WAITING_BANNER

    def _check_not_waiting(self) -> None:
        if self.waiting:
            raise InputError(
                "type", "input is held until the customer's admin watches", "waiting_for_watcher"
            )

    def detach(self, page: Page) -> None:
        """``page`` went away; the shell stays, and idle time counts from now."""
        if self.attached is page:
            self.attached = None
            self.link.attached = False
            self.link.last_activity = self.ctx.clock.monotonic()

    # -- input from the page -------------------------------------------------
    def keys(self, data: bytes) -> None:
        """Keystrokes (already terminal input) go to the target, unless input is held."""
        self._check_not_waiting()
        self.link.touch_in(len(data))
        self.relay.send(data)

    def paste(self, data: bytes) -> None:
        """A paste (ingress, capped by the protocol); its size is audited, never its content."""
        self._check_not_waiting()
        self.link.emit("viewer.paste", bytes=len(data), source_ip=self.link.source_ip)
        self.keys(data)

    def resize(self, cols: int, rows: int) -> None:
        """The page's terminal area changed: the screen, the PTY and the recording follow."""
        self.view.resize(cols, rows)
        self.relay.resize(cols, rows, 0, 0)
        self.ctx.spawn(self.watchers.resize(cols, rows))

    def scroll(self, lines: int) -> None:
        """Move the page's view into the server-side scrollback."""
        self.view.scroll(lines)
        self._wake()

    def output(self, data: bytes) -> None:
        """Filtered output: into the region's screen; the page gets pixels only."""
        self.view.feed(data)
        replies = self.view.take_replies()  # answers to the target's terminal queries
        if replies:
            self.relay.send(replies)
        self.watchers.feed(data)
        self._wake()

    def _wake(self) -> None:
        if self.attached is not None:
            self.attached.wake()

    async def ended(self) -> None:
        """The shell ended: tell the page why and close (reason ``shell_exited``)."""
        self.say(self.link.reason or "shell_exited")
        await self.close()

    # -- Endpoint: what the link does when it cuts ------------------------------
    def say(self, reason: str) -> None:
        """Note why the session ends; ``close`` tells the page after the last frame."""
        self._end = page_end(reason)

    async def close(self) -> None:
        """Tell the page why, close its socket and the target leg; record the end. Once."""
        if self._closed:
            return
        self._closed = True
        page, self.attached = self.attached, None
        end = await self._refined(self._end)
        if page is not None:
            await page.end(end)
        await self.watchers.end(end)
        self.relay.close()
        if self.ctx.links.get(self.session.id) is self.link:
            del self.ctx.links[self.session.id]
        if self.on_closed is not None:
            self.on_closed()
        await self.link.finish()

    async def _refined(self, end: str) -> str:
        """For a revocation, which one (ticket closed, consent withdrawn...), if the store says."""
        if end != "revoked":
            return end
        try:
            async with asyncio.timeout(REFINE_WAIT):
                stored = await self.ctx.store.get_session(self.session.id)
        except (TimeoutError, BrokerError):
            return end
        return PAGE_END.get(stored.end_reason or "", end)

    def abort(self) -> None:
        """Drop at once (protocol abuse): the same bookkeeping, in the background."""
        self.ctx.spawn(self.close())

    def shut_down(self) -> None:
        """From the watcher's thread: end the page's TCP connection at once."""
        page = self.attached
        if page is not None:
            page.shut_down()


class ScreenFront:
    """The relay's ``FrontEnd`` for a view session: output goes to the region's screen."""

    def __init__(self, owner: ViewerSession) -> None:
        self.owner = owner

    def write(self, data: bytes) -> None:
        """Filtered output: into the region's screen."""
        self.owner.output(data)

    def is_closing(self) -> bool:
        """Whether the session is ending."""
        return self.owner.closed

    def pause_reading(self) -> None:
        """The target is slow: page input is small and bounded, so nothing is held back."""

    def resume_reading(self) -> None:
        """See ``pause_reading``."""

    def exit(self, status: int) -> None:
        """The shell exited: end the session."""
        self._ended()

    def exit_with_signal(
        self, signal: str, core_dumped: bool = False, msg: str = "", lang: str = ""
    ) -> None:
        """The shell was killed: end the session."""
        self._ended()

    def close(self) -> None:
        """The target leg closed without an exit status: end the session."""
        self._ended()

    def _ended(self) -> None:
        log.info("viewer.shell_ended", region=self.owner.session.region,
                 session_id=self.owner.session.id)  # fmt: skip
        self.owner.ctx.spawn(self.owner.ended())
