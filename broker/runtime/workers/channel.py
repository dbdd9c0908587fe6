"""One end of the socketpair between the main process and an API worker.

Both ends send and receive the same JSON lines (``broker.runtime.workers.wire``);
``WorkerLink`` (main side) and ``MainLink`` (worker side) build on this.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from typing import Any, Self

from broker.errors import InputError, UnavailableError
from broker.runtime.workers.wire import MAX_LINE, decode, encode

REQUEST_TIMEOUT = 10.0
"""How long a request (flush, metrics) waits for its answer before failing closed."""


class Channel:
    """Send messages, receive them in order, and match answers to requests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}

    @classmethod
    async def over(cls, sock: socket.socket) -> Self:
        """A channel of this class over a connected socket (one end of a socketpair)."""
        reader, writer = await asyncio.open_connection(sock=sock, limit=MAX_LINE)
        return cls(reader, writer)

    @property
    def closed(self) -> bool:
        """True once either end has closed."""
        return self._writer.is_closing()

    def send(self, message: dict[str, Any]) -> None:
        """Queue one message; ``UnavailableError`` if the channel is closed."""
        if self._writer.is_closing():
            raise UnavailableError("process_link_closed", "the link to the other process is gone")
        self._writer.write(encode(message))

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` with a fresh ``id``; the answer carrying that ``id``."""
        request_id = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        try:
            self.send({**message, "id": request_id})
            return await asyncio.wait_for(answer, REQUEST_TIMEOUT)
        except TimeoutError as error:
            raise UnavailableError(
                "process_link_timeout", "the other process did not answer"
            ) from error
        finally:
            self._pending.pop(request_id, None)

    def answered(self, message: dict[str, Any]) -> bool:
        """Hand ``message`` to the request waiting for it; False if none is."""
        waiting = self._pending.get(message.get("id", 0))
        if waiting is None or waiting.done():
            return False
        waiting.set_result(message)
        return True

    async def receive(self) -> dict[str, Any] | None:
        """The next message, or None once the other end has closed."""
        try:
            line = await self._reader.readline()
        except (ConnectionError, ValueError) as error:  # ValueError: a line over MAX_LINE
            raise InputError("message", "unreadable line from the other process") from error
        return decode(line) if line else None

    async def close(self) -> None:
        """Send what is queued, then close; pending requests fail closed."""
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(
                    UnavailableError("process_link_closed", "the link to the other process is gone")
                )
        with contextlib.suppress(ConnectionError):
            if not self._writer.is_closing():
                await self._writer.drain()
            self._writer.close()
            await self._writer.wait_closed()
