"""The console: a server-rendered web application, mounted by the API under ``/console/``.

``create_console`` builds the sub-application: templates (Jinja2, autoescaped),
the static folder (one stylesheet, no CDN), the middlewares (security
headers, error pages, the session cookie) and the routes of the sign-in
views and of each role's views (``views/admin.py``, ``ops.py``,
``engineer.py``: each exposes ``add_routes(app)``). It reads the API's
services through ``request.config_dict`` (``broker.console.services``), so
a page and the API run the very same use case.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from broker.audit.tia import BASIS_WORDS
from broker.auth.principal import TokenVerifier
from broker.config.console import ConsoleSettings
from broker.console import middleware
from broker.console.keys import OIDC, SETTINGS, SIGNINS
from broker.console.oidc import OidcClients
from broker.console.signins import ConsoleSignins
from broker.console.views import admin, engineer, home, links, ops, requests, signin
from broker.service.context import Context

PREFIX = "/console/"
"""Where ``broker.api.app.create_app`` mounts the console."""
HERE = Path(__file__).parent
VIEWS = (signin, links, home, requests, admin, ops, engineer)
"""Each module's ``add_routes(app)`` adds its named routes (``<module>.<page>``)."""


def create_console(
    ctx: Context, settings: ConsoleSettings, verifier: TokenVerifier
) -> web.Application:
    """The console sub-application over ``ctx``'s store (sign-ins) and the API's services.

    ``verifier`` checks the bearer token of ``broker console-link`` (local mode)."""
    app = web.Application(
        middlewares=[middleware.security_headers, middleware.errors, middleware.authenticate]
    )
    app[SETTINGS] = settings
    app[SIGNINS] = ConsoleSignins(ctx, settings)
    app[OIDC] = OidcClients(settings, ctx.clock)
    app[links.VERIFIER] = verifier
    app[links.LOCAL] = ctx.config.mode == "local"
    app.on_cleanup.append(_close_oidc)
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    environment.globals["static"] = _static
    environment.globals["has_route"] = lambda name: name in app.router
    environment.filters["basis"] = lambda code: BASIS_WORDS.get(code, code)
    environment.filters["duration"] = duration_words
    app.router.add_static("/static/", HERE / "static", name="static")
    for module in VIEWS:
        module.add_routes(app)
    return app


def duration_words(seconds: int) -> str:
    """``5400`` -> ``1 h 30 min``; ``172800`` -> ``2 days``."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    return " ".join(parts) or f"{seconds} s"


async def _close_oidc(app: web.Application) -> None:
    await app[OIDC].close()


def _static(name: str) -> str:
    """The URL of a file in ``static/`` (the console is always mounted at ``PREFIX``)."""
    return f"{PREFIX}static/{name}"
