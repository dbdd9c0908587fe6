"""Read-only watchers of one live view session (ops, or the customer's admin).

Each watcher's page gets its own ``TerminalView``: a mirror of the engineer's
screen at the moment it joined, fed the same filtered output from then on,
with the watcher's own watermark and scroll position. So a watcher costs one
more emulator and renderer per session, and never disturbs what the
engineer's browser has been sent. Whatever a watcher's page sends as keys or
a paste goes nowhere: the server answers ``read_only`` and drops it. A
watcher's resize is ignored (the grid is the engineer's).

The engineer's status bar (and every watcher's) names the watchers by id, in
the pixels. Every join and leave is audited (``viewer.watch_started`` and
``viewer.watch_ended`` with the watcher's id and, at the end, how long).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from broker.gateway.link import Link
from broker.viewer.page import Page
from broker.viewer.terminal import TerminalView, Watermark

READ_ONLY_BANNER = "read-only: watching"
"""The banner on a watcher's own status bar (our fixed text)."""


@dataclass(eq=False)
class Watcher:
    """One watcher's page and its own view of the screen."""

    watcher_id: str
    role: str
    page: Page
    view: TerminalView
    source_ip: str
    joined: float


class Watchers:
    """The watchers of one session, kept in join order."""

    def __init__(self, link: Link[Any], view: TerminalView, changed: Callable[[], None]) -> None:
        self._link = link
        self._view = view
        self._changed = changed
        self._all: list[Watcher] = []

    def ids(self) -> tuple[str, ...]:
        """The distinct ids watching now, sorted (what the status bar shows)."""
        return tuple(sorted({w.watcher_id for w in self._all}))

    def __contains__(self, watcher: Watcher) -> bool:
        return watcher in self._all

    def has_customer_admin(self) -> bool:
        """Whether one of the ticket org's customer admins is watching now."""
        return any(w.role == "customer_admin" for w in self._all)

    async def join(self, who: tuple[str, str], page: Page, source_ip: str) -> Watcher:
        """Show ``page`` the screen as it is now, read-only; audited; everyone's bar updated.

        ``who`` is the watcher's (role, id) from their link."""
        role, watcher_id = who
        mark = Watermark(staff_id=watcher_id, session_id=self._link.session.id)
        view = self._view.mirror(mark)
        joined = self._link.ctx.clock.monotonic()
        watcher = Watcher(watcher_id, role, page, view, source_ip, joined)
        self._all.append(watcher)
        self._link.emit("viewer.watch_started", actor=watcher_id, role=role, source_ip=source_ip)
        self._changed()
        await page.show(view)
        return watcher

    def leave(self, watcher: Watcher, reason: str) -> None:
        """``watcher`` went away (or the session ended): audited once; bars updated."""
        if watcher not in self._all:
            return
        self._all.remove(watcher)
        seconds = int(self._link.ctx.clock.monotonic() - watcher.joined)
        self._link.emit(
            "viewer.watch_ended",
            actor=watcher.watcher_id,
            role=watcher.role,
            source_ip=watcher.source_ip,
            reason=reason,
            duration_s=seconds,
        )
        self._changed()

    def set_status(self, banner: str | None) -> None:
        """Every watcher's bar: the watchers, and ``banner`` (the session's) or read-only."""
        ids = self.ids()
        for watcher in self._all:
            watcher.view.set_status(watchers=ids, banner=banner or READ_ONLY_BANNER)
            watcher.page.wake()

    def feed(self, data: bytes) -> None:
        """The same filtered output the engineer's screen got; a watcher's replies are dropped."""
        for watcher in self._all:
            watcher.view.feed(data)
            watcher.view.take_replies()
            watcher.page.wake()

    async def resize(self, cols: int, rows: int) -> None:
        """The engineer's grid changed: every watcher's follows."""
        for watcher in list(self._all):
            watcher.view.resize(cols, rows)
            await watcher.page.resized()

    async def end(self, code: str) -> None:
        """The session ended: tell each watcher why and close; each leave audited."""
        for watcher in list(self._all):
            self.leave(watcher, "session_ended")
            await watcher.page.end(code)
