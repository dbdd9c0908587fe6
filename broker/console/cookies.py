"""The console's two cookies, and when they are Secure.

``SESSION``: the signed-in session's secret. HttpOnly, SameSite=Strict,
path ``/console/``, no longer than the absolute timeout. Strict means a
cross-site navigation arrives without it: a link from elsewhere lands on
the sign-in page, never on a signed-in page (so no cross-site request ever
acts as the user).

``LOGIN``: an OIDC login in progress, from the redirect to the IdP until
its answer. The answer is a cross-site navigation, which a Strict cookie
would miss, so this one is SameSite=Lax, path ``/console/auth/`` only, ten
minutes, and worth nothing but the one login it binds to this browser.

Both are Secure when the request came over TLS, or the trusted proxy says
``X-Forwarded-Proto: https``, or the config says ``always``.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from broker.config.console import ConsoleSettings

SESSION = "broker_console"
LOGIN = "broker_console_login"
LOGIN_PATH = "/console/auth/"
SESSION_PATH = "/console/"


def is_secure(request: web.Request, settings: ConsoleSettings) -> bool:
    """Whether this request reached us over TLS (directly or, if trusted, via the proxy)."""
    if settings.secure_cookies != "auto":
        return settings.secure_cookies == "always"
    if request.secure:
        return True
    proto = request.headers.get("X-Forwarded-Proto", "")
    return settings.trust_forwarded_proto and proto.split(",")[0].strip().lower() == "https"


def set_session(
    response: web.StreamResponse, request: web.Request, settings: ConsoleSettings, secret: str
) -> None:
    """Hand the browser its session cookie."""
    _set(response, request, settings, (SESSION, secret, SESSION_PATH, "Strict"))
    response.cookies[SESSION]["max-age"] = str(settings.absolute_timeout_seconds)


def set_login(
    response: web.StreamResponse, request: web.Request, settings: ConsoleSettings, secret: str
) -> None:
    """Hand the browser the cookie that binds an OIDC login to it."""
    _set(response, request, settings, (LOGIN, secret, LOGIN_PATH, "Lax"))
    response.cookies[LOGIN]["max-age"] = "600"


def clear(response: web.StreamResponse, name: str) -> None:
    """Tell the browser to drop a cookie."""
    response.del_cookie(name, path=SESSION_PATH if name == SESSION else LOGIN_PATH)


def _set(
    response: web.StreamResponse,
    request: web.Request,
    settings: ConsoleSettings,
    cookie: tuple[str, str, str, Literal["Strict", "Lax"]],
) -> None:
    name, value, path, same_site = cookie
    response.set_cookie(
        name,
        value,
        path=path,
        httponly=True,
        samesite=same_site,
        secure=is_secure(request, settings),
    )
