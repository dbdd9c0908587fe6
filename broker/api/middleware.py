"""aiohttp middlewares: request ids, problem+json errors, request metrics.

Errors are rendered once, here, as RFC 9457 problem details. Unexpected
exceptions become a bare 500 with no detail: exception text can carry
customer data, so it goes only to the (redacted) log.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from broker import validate as v
from broker.api.serialize import json_response
from broker.errors import BrokerError, InputError, PayloadTooLarge, problem
from broker.ids import random_uuid
from broker.metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("broker.api")


Scrubber = Callable[[object], object]
SCRUBBER: web.AppKey[Scrubber] = web.AppKey("scrubber")
"""Pseudonymises problem bodies: a field name or path echoed back may carry a
phone number or email the caller typed."""


def problem_response(error: BrokerError, request: web.Request) -> web.Response:
    """The problem+json response for ``error``, with any PI pseudonymised."""
    body = dict(problem(error, request.path))
    scrub = request.app.get(SCRUBBER)
    return json_response(
        scrub(body) if scrub else body, status=error.status, content_type=PROBLEM_JSON
    )


def http_error(code: str, status: int, title: str, reason: str) -> BrokerError:
    """An error of the tree for an HTTP status aiohttp chose (no class of ours has it)."""
    error = BrokerError(code, reason)
    error.status = status  # type: ignore[misc]  # instance override of the class default
    error.title = title  # type: ignore[misc]
    return error


def _from_http(exc: web.HTTPException) -> BrokerError:
    """Map aiohttp's own errors (404 route, 405, 413) into the error tree."""
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("body", "must be at most 64 KiB")
    return http_error("http_error", exc.status, exc.reason, exc.reason)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as problem+json."""
    try:
        return await handler(request)
    except BrokerError as error:
        return problem_response(error, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = problem_response(_from_http(exc), request)
        if "Allow" in exc.headers:  # a 405 says what is allowed (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("api.unhandled", path=request.path)
        return problem_response(BrokerError("internal", "internal error"), request)


@web.middleware
async def context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bind a request id for logs and echo it back to the caller.

    A caller's id is kept only if it matches ``validate.REQUEST_ID``; any other
    value (it could be anything, a name included) is replaced, never logged."""
    request_id = v.request_id(request.headers.get("X-Request-Id")) or random_uuid()
    # bind and reset by token: ``bound_contextvars`` copies the whole context twice
    bound = structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response = await handler(request)
    finally:
        structlog.contextvars.reset_contextvars(**bound)
    response.headers["X-Request-Id"] = request_id
    return response


def timing(metrics: Metrics) -> Middleware:
    """Count requests and observe their latency by route."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        response = await handler(request)
        route = request.match_info.route.resource
        name = route.canonical if route is not None else "unmatched"
        metrics.observe_request(
            request.method, name, response.status, time.perf_counter() - started
        )
        return response

    return middleware


async def read_json(request: web.Request) -> object:
    """The request body as JSON, or an error naming ``body``."""
    if request.content_type != "application/json":
        raise InputError("content-type", "must be application/json")
    try:
        return orjson.loads(await request.read())
    except ValueError as error:  # orjson.JSONDecodeError is one
        raise InputError("body", "is not valid JSON") from error
