"""The console's front page: the signed-in role's menu."""

from __future__ import annotations

from aiohttp import web

from broker.console.pages import page
from broker.console.render import render
from broker.typing import ROLES


@page(*ROLES)
async def home(request: web.Request) -> web.Response:
    """Where every sign-in lands: who you are and what you can do here."""
    return render(request, "home.html", {})


def add_routes(app: web.Application) -> None:
    """``/console/`` itself."""
    app.router.add_get("/", home, name="home")
