"""API connections, accepted by the main process and dealt to the workers in turn.

The main process owns the API's one listening socket. It accepts every
connection and passes it, as a file descriptor (``SCM_RIGHTS``), over the
next live worker's hand-off socket (an ``AF_UNIX`` ``SOCK_SEQPACKET`` pair:
one message per connection); the worker adopts it into its HTTP server.

Why not ``SO_REUSEPORT``, as before: there the kernel picks a worker by a hash
of the client's address and port, so 64 connections split like 64 coin
flips. Measured under the grant benchmark: 40 to 24 connections (45 and 27
sockets open). Both workers serve at the same rate, so the busier one's
requests waited about twice as long, and the grant p99 was that worker's.
Dealt in turn, they split 32 to 32.

Fail closed: when no worker can take a connection it is closed unanswered,
and when the main process is gone, nobody accepts at all (the listening
socket was its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("broker.runtime.workers")

_TAG = b"c"
"""The one byte each hand-off message carries beside its descriptor."""
_FDS_PER_MESSAGE = 1
"""Each hand-off message carries one connection (``Dealer._pass``)."""
ACCEPT_RETRY_SECONDS = 0.1
"""The pause after a failed accept (no descriptors left), before trying again."""


def handoff_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of hand-off sockets: (the main process's end, the worker's)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)  # a worker too slow to read must not stall the main process
    return ours, theirs


class Dealer:
    """The main process's side: accepts API connections and deals them to workers in turn."""

    def __init__(self, listener: socket.socket) -> None:
        self._listener = listener
        self._listener.setblocking(False)
        self._workers: dict[int, socket.socket] = {}
        self._turn = 0

    def attach(self, slot: int, handoff: socket.socket) -> None:
        """Deal to the worker of ``slot`` from now on (its end of a ``handoff_pair``)."""
        self.detach(slot)
        self._workers[slot] = handoff

    def detach(self, slot: int) -> None:
        """Deal no more to the worker of ``slot`` (it stopped or died)."""
        handoff = self._workers.pop(slot, None)
        if handoff is not None:
            handoff.close()

    def close(self) -> None:
        """Stop accepting, and stop dealing to every worker."""
        self._listener.close()
        for slot in list(self._workers):
            self.detach(slot)

    async def serve(self) -> None:
        """Accept and deal until cancelled or the listening socket is closed."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, _ = await loop.sock_accept(self._listener)
            except OSError as error:
                if self._listener.fileno() < 0:  # closed: the instance is stopping
                    return
                # e.g. out of file descriptors: wait for some to free, keep accepting
                log.error("api.accept_failed", errno=error.errno)
                await asyncio.sleep(ACCEPT_RETRY_SECONDS)
                continue
            with connection:  # a worker that took it holds its own descriptor now
                self.deal(connection)

    def deal(self, connection: socket.socket) -> bool:
        """Pass ``connection`` to the next worker able to take it; False if none could."""
        slots = sorted(self._workers)
        for step in range(len(slots)):
            slot = slots[(self._turn + step) % len(slots)]
            if self._pass(slot, connection):
                self._turn = (self._turn + step + 1) % len(slots)
                return True
        log.error("api_worker.none_to_take_connection")
        return False

    def _pass(self, slot: int, connection: socket.socket) -> bool:
        try:
            socket.send_fds(self._workers[slot], [_TAG], [connection.fileno()])
        except BlockingIOError:  # its queue is full: it is stuck, try the next one
            return False
        except OSError:  # it has gone: its keeper starts a new one
            self.detach(slot)
            return False
        return True


async def receive_connections(
    handoff: socket.socket, adopt: Callable[[socket.socket], object]
) -> None:
    """The worker's side: ``adopt`` every connection passed until the main process closes.

    Owns ``handoff``: it is closed on return.
    """
    handoff.setblocking(False)
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(handoff.fileno(), readable.set)
    try:
        while True:
            await readable.wait()
            readable.clear()
            if not _take(handoff, adopt):
                return
    finally:
        loop.remove_reader(handoff.fileno())
        handoff.close()


def _take(handoff: socket.socket, adopt: Callable[[socket.socket], object]) -> bool:
    """Adopt every connection queued now; False once the main process's end is closed."""
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(handoff, len(_TAG), _FDS_PER_MESSAGE)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not message and not fds:
            return False
        for fd in fds:
            with contextlib.suppress(OSError):
                adopt(socket.socket(fileno=fd))


def adopter(server: web.Server) -> Callable[[socket.socket], None]:
    """An ``adopt`` for ``receive_connections``: serve a passed connection with
    ``server`` as if this process had accepted it."""
    loop = asyncio.get_running_loop()
    adopting: set[asyncio.Task[Any]] = set()  # held until done, so none is collected midway

    def adopt(connection: socket.socket) -> None:
        connection.setblocking(False)
        task = loop.create_task(loop.connect_accepted_socket(server, connection))
        adopting.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            adopting.discard(task)
            if not task.cancelled() and task.exception() is not None:
                connection.close()  # e.g. the client left already: nothing to serve

        task.add_done_callback(done)

    return adopt
