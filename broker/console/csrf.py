"""CSRF defence for every form: a synchronizer token bound to the session, and Origin.

The token is derived from the session cookie's secret (SHA-256 of a fixed
label and the secret): it changes with every sign-in, only a page of the
session can hold it (the cookie itself is HttpOnly), and the store, holding
only the cookie's digest, cannot recompute it. Every POST must carry it as
the ``csrf`` field, and its ``Origin`` must be the console's own: a form on
another site fails both, and a browser that sends no Origin on a POST is
refused too (every browser the console supports sends one).
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web
from multidict import MultiDictProxy

from broker.errors import ForbiddenError

FIELD = "csrf"
_LABEL = b"broker-console-csrf\x00"


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``secret``."""
    return hashlib.sha256(_LABEL + secret.encode("ascii")).hexdigest()


def expected_origin(request: web.Request, public_url: str | None) -> str:
    """The console's own origin: the configured public URL's, else this request's."""
    if public_url:
        scheme, _, rest = public_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"
    return f"{request.scheme}://{request.host}"


async def checked_form(
    request: web.Request, secret: str, public_url: str | None
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The POSTed form, once its Origin and CSRF token are the session's; else 403."""
    if request.headers.get("Origin") != expected_origin(request, public_url):
        raise ForbiddenError("csrf_origin", "the form was not sent from this console")
    form = await request.post()
    sent = form.get(FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(secret)):
        raise ForbiddenError("csrf_token", "the form's security token is missing or stale")
    return form
