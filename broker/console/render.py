"""``render``: a page from its template, with what every page shows, never cached.

Every page gets ``user`` (the ``SignedIn``, or None), ``principal``,
``csrf`` (the session's token for its forms, see ``csrf.py``), ``nav`` (the
signed-in role's menu: (route name, label) pairs) and ``notice`` (the text of
a fixed status message a redirect named with ``?notice=``, announced by
``role="status"``; the query can only pick one of ``NOTICES``, never put its
own words on the page).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from broker.console.csrf import csrf_token
from broker.console.keys import USER
from broker.typing import Role

NAV: dict[Role, list[tuple[str, str]]] = {}
"""Each role's menu, filled by the view modules' ``add_routes`` (``add_nav``)."""

NOTICES: dict[str, str] = {
    "signed_out": "You are signed out.",
}
"""Status messages a redirect may name; view modules add theirs (``add_notices``)."""


def add_nav(role: Role, *entries: tuple[str, str]) -> None:
    """Append menu entries (route name, label) for ``role`` (once per entry)."""
    menu = NAV.setdefault(role, [])
    menu.extend(entry for entry in entries if entry not in menu)


def add_notices(notices: Mapping[str, str]) -> None:
    """Register status messages by code."""
    NOTICES.update(notices)


def render(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    """The page ``template`` rendered with ``context`` and the common values."""
    user = request.get(USER)
    notice = NOTICES.get(request.query.get("notice", ""))
    common: dict[str, Any] = {
        "user": user,
        "principal": user.principal if user else None,
        "csrf": csrf_token(user.secret) if user else "",
        "nav": NAV.get(user.principal.role, []) if user else [],
        "notice": notice,
        "current": request.match_info.route.name,
    }
    response = aiohttp_jinja2.render_template(
        template, request, {**common, **context}, status=status
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(
    request: web.Request, name: str, notice: str | None = None, **parts: str
) -> web.Response:
    """A 303 to the named route (after a POST), optionally naming a status message."""
    url = request.app.router[name].url_for(**parts)
    if notice is not None:
        assert notice in NOTICES, notice
        url = url.with_query(notice=notice)
    return see_other(str(url))


def see_other(location: str) -> web.Response:
    """A 303 to ``location`` (returned, so a handler can still set cookies on it)."""
    return web.Response(status=303, headers={"Location": location})
