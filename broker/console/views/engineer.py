"""Engineer pages (their tickets' routing, their sessions and requests, open a session)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Add the engineer pages (named ``engineer.<page>``) and menu (``render.add_nav``)."""
