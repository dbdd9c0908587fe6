"""aiohttp's own protocol errors, answered as RFC 9457 problem+json like every other error.

A request aiohttp cannot parse (an over-long URL or header, a malformed
request line, a bad method) never reaches the app or its middlewares:
aiohttp's connection protocol answers it itself, in ``text/plain`` and with
part of the request in the text. aiohttp has no hook for that answer, so the
server's protocol class is swapped for a subclass that answers with a fixed
problem body per status, echoing nothing from the request. Its log line is
fixed too: aiohttp's own quotes the offending bytes, which may be anything
a client typed.
"""

from __future__ import annotations

from http import HTTPStatus

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from broker.api.middleware import PROBLEM_JSON, http_error
from broker.api.serialize import json_response
from broker.errors import problem

log = structlog.get_logger("broker.api")


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection protocol, with its own error answers in problem+json."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """The problem+json answer for ``status``; the connection is closed after it."""
        if request.writer.output_size > 0:  # as aiohttp: a response began, the connection is lost
            raise ConnectionError("a response was sent already")
        log.warning(
            "api.protocol_error",
            status=status,
            error=type(exc).__name__ if exc else None,
            source_ip=request.remote,
            exc_info=exc if status >= 500 else None,  # ours: the (redacted) traceback
        )
        response = json_response(protocol_problem(status), status=status, content_type=PROBLEM_JSON)
        response.force_close()
        return response


class ProblemServer(web.Server):
    """A ``web.Server`` whose connections answer protocol errors as problems."""

    def __call__(self) -> RequestHandler:
        """A connection protocol (the event loop calls this per connection)."""
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


def protocol_problem(status: int) -> dict[str, object]:
    """A fixed problem body for an HTTP error aiohttp raised before routing."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "HTTP error"
    reason = f"the request could not be processed: {phrase}"
    return dict(problem(http_error("http_protocol", status, phrase, reason)))


def answer_problems(server: web.Server | None) -> None:
    """Make ``server`` (an ``AppRunner``'s, after ``setup``) answer protocol errors as problems.

    The class is swapped in place because aiohttp builds the server inside the
    runner; ``ProblemServer`` adds behaviour only, no state."""
    assert server is not None  # made by the runner's setup()
    server.__class__ = ProblemServer
