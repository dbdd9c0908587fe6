"""The console's middlewares: who is signed in, security headers, and error pages.

``authenticate`` resolves the session cookie (through ``ConsoleSignins``:
unknown, tampered, ended, expired or idle all mean "not signed in", and the
cookie is dropped). ``errors`` renders failures as pages: the service
layer's 404 for another org's records is the same page an unknown id gets.
Exception text can carry customer data, so an unexpected error shows
nothing of it (the log, redacted, has it).
"""

from __future__ import annotations

import structlog
from aiohttp import web

from broker.api.middleware import SCRUBBER
from broker.console import cookies
from broker.console.keys import SIGNINS, USER
from broker.console.pages import Handler
from broker.console.render import render
from broker.errors import BrokerError

log = structlog.get_logger("broker.console")
STATIC = "/console/static/"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: a same-origin form POST must carry its Origin
    # (browsers send "Origin: null" under no-referrer), and the CSRF check reads it.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response: strict CSP (no inline script or style), no framing, no sniffing."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Set ``USER`` from a live session cookie; drop a cookie that is not one."""
    secret = request.cookies.get(cookies.SESSION)
    if secret is None or request.path.startswith(STATIC):  # a stylesheet needs nobody
        return await handler(request)
    try:
        request[USER] = await request.config_dict[SIGNINS].resume(secret)
    except BrokerError as error:
        if error.status >= 500:
            raise  # the store is down: fail closed, and say so, rather than sign out
        log.info("console.session_refused", code=error.code, source_ip=request.remote)
        return await _without(request, handler)
    return await handler(request)


async def _without(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serve as signed out, and tell the browser to forget the cookie."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        cookies.clear(exc, cookies.SESSION)
        raise
    cookies.clear(response, cookies.SESSION)
    return response


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render every failure as a page with its status."""
    try:
        return await handler(request)
    except BrokerError as error:
        return _error_page(request, error.status, error.title, error.reason)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error_page(request, exc.status, exc.reason, exc.reason)
    except Exception:
        log.exception("console.unhandled", path=request.path)
        return _error_page(request, 500, "Internal error", "Something went wrong.")


def _error_page(request: web.Request, status: int, title: str, reason: str) -> web.Response:
    """The error page; the reason pseudonymised as the API's problem bodies are."""
    scrub = request.config_dict.get(SCRUBBER)
    shown = str(scrub(reason)) if scrub else reason
    context = {"status": status, "title": title, "reason": shown}
    return render(request, "error.html", context, status=status)
