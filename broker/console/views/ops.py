"""Ops pages (sessions, audit, denials explained, any org's TIA, the dashboard)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Add the ops pages (named ``ops.<page>``) and the ops menu (``render.add_nav``)."""
