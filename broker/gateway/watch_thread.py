"""Runs a gateway's watcher on a thread and event loop of its own.

Why: under full load the gateway's loop, which carries every relay, login
and key exchange of its region, can fall seconds behind. A watcher on that
loop saw revocations late, and the relay passed terminal data meanwhile:
under the soak, revoked sessions went on relaying for 2-4 s
(docs/benchmarks.md, "Revocation and the soak"). On its own thread the
watcher polls on time (revocation to sever at most 0.22 s under the same
load), and a cut takes effect in three steps, the first two at once:

1. the link is severed (``Link.sever``): its relay drops data both ways, so
   nothing more reaches the engineer, the target or the recording;
2. ``Link.terminate`` is queued on the gateway's loop: the why-line, the
   channel close, then the usual bookkeeping once the connection is lost;
3. if the connection is still open ``SHUT_DOWN_AFTER`` seconds later, this
   thread shuts its TCP socket down (``Link.shut_down``), so the engineer's
   client is cut even while the loop is still behind.

The watcher reads the store from this thread's loop, which every ``Store``
allows, and reads ``GatewayContext.links`` without changing it: single
lookups and a copy of the items, each atomic under the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from broker.gateway.context import GatewayContext
from broker.gateway.link import CLOSE_WAIT
from broker.gateway.ports import LiveLink
from broker.gateway.watcher import Watcher

SHUT_DOWN_AFTER = CLOSE_WAIT + 0.2
"""Seconds from a cut to the socket backstop: long enough for a loop that
keeps up to close politely (why-line, channel close) first."""


class WatcherThread:
    """Owns the watcher's thread and loop; ``start`` and ``stop`` from the gateway's loop."""

    def __init__(self, ctx: GatewayContext) -> None:
        self.ctx = ctx
        self.watcher = Watcher(ctx, cut=self._cut)
        self._running: tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop] | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start ticking on a new thread (after ``Watcher.prime``)."""
        loop = asyncio.new_event_loop()
        self._running = (asyncio.get_running_loop(), loop)
        self._task = loop.create_task(self.watcher.run())  # the loop runs nowhere yet
        self._thread = threading.Thread(  # a daemon: a crash must not hang the exit on it
            target=self._serve,
            args=(loop, self._task),
            name=f"watcher-{self.ctx.region}",
            daemon=True,
        )
        self._thread.start()

    async def stop(self) -> None:
        """Cancel the ticking and wait for the thread to end."""
        if self._running is None or self._task is None or self._thread is None:
            return
        with contextlib.suppress(RuntimeError):  # its loop has closed: the thread has ended
            self._running[1].call_soon_threadsafe(self._task.cancel)
        await asyncio.to_thread(self._thread.join)
        self._running = self._task = self._thread = None

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
        """The thread: run the watcher until cancelled, then close its loop."""
        try:
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(task)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _cut(self, link: LiveLink, reason: str) -> None:
        """Sever now, terminate on the gateway's loop, shut down if still open."""
        assert self._running is not None
        gateway_loop, own_loop = self._running
        link.sever(reason)
        with contextlib.suppress(RuntimeError):  # the gateway's loop is closing
            gateway_loop.call_soon_threadsafe(self._terminate_on_loop, link, reason)
        own_loop.call_later(SHUT_DOWN_AFTER, self._backstop, link)

    def _backstop(self, link: LiveLink) -> None:
        """Shut the socket down if the loop has not lost the connection yet."""
        if self.ctx.links.get(link.session.id) is link:
            link.shut_down()

    def _terminate_on_loop(self, link: LiveLink, reason: str) -> None:
        """On the gateway's loop: the polite close, in the background (it waits on the client)."""
        self.ctx.spawn(link.terminate(reason))
