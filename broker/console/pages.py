"""``page(*roles)``: the guard every console handler wears, and the request accessors.

A page needs a signed-in browser (else: GET goes to the sign-in page, POST
is refused) whose role is one of ``roles`` (else 403). A POST is also
checked for its Origin and the session's CSRF token before the handler
runs; the handler reads the checked form with ``form(request)``. Which
records a role may see is the service layer's business, not this guard's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps

from aiohttp import web
from multidict import MultiDictProxy

from broker.auth.principal import Principal
from broker.console.csrf import checked_form
from broker.console.keys import SETTINGS, SIGNINS, USER
from broker.console.signins import SignedIn
from broker.errors import AuthenticationError, ForbiddenError
from broker.typing import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Form = MultiDictProxy[str | bytes | bytearray | web.FileField]
FORM = web.RequestKey("console_form", Form)


def page(*roles: Role) -> Callable[[Handler], Handler]:
    """Guard a handler: signed in, in one of ``roles``, and (POST) CSRF-checked."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            who = request.get(USER)
            if who is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther(location=str(request.app.router["signin"].url_for()))
                raise AuthenticationError("console_signin_required", "sign in first")
            if who.principal.role not in roles:
                raise ForbiddenError("role_forbidden", f"requires role {' or '.join(roles)}")
            if request.method == "POST":
                public = request.config_dict[SETTINGS].public_url
                request[FORM] = await checked_form(request, who.secret, public)
            return await handler(request)

        return guarded

    return wrap


def user(request: web.Request) -> SignedIn:
    """The signed-in browser (inside a ``page``)."""
    return request[USER]


def principal(request: web.Request) -> Principal:
    """The signed-in principal (inside a ``page``): what every service call takes."""
    return request[USER].principal


def form(request: web.Request) -> Form:
    """The POSTed form, already checked for CSRF (inside a POST ``page``)."""
    return request[FORM]


def source_ip(request: web.Request) -> str:
    """The browser's IP address (kept in audit records by design)."""
    return request.remote or "unknown"


def now(request: web.Request) -> datetime:
    """The broker's clock (the one the services use; tests fake it)."""
    return request.config_dict[SIGNINS].clock.now()
