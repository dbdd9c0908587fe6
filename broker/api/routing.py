"""The route table: one declaration per endpoint feeds both aiohttp and OpenAPI.

Declaring roles and body schemas next to the handler is what keeps the
OpenAPI document honest: it is generated from the very list the app serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from broker.auth.principal import Principal
from broker.typing import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", Principal)


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: method, path template, handler and its contract."""

    method: str
    path: str
    handler: Handler
    summary: str
    roles: tuple[Role, ...] | None = None
    """Roles allowed to call; None means no authentication (health, docs)."""
    body: str | None = None
    """Name of the request body schema in the OpenAPI components."""
    response: str | None = None
    """Name of the success response schema."""
    status: int = 200
    query: tuple[str, ...] = field(default=())
    limits: tuple[tuple[Role, str], ...] = field(default=())
    """What a role may do here beyond the plain role check, in words for the
    OpenAPI document (``x-role-limits``); the service layer enforces it."""


def principal(request: web.Request) -> Principal:
    """The authenticated caller, set by the auth middleware."""
    return request[PRINCIPAL]


def source_ip(request: web.Request) -> str:
    """The peer's IP address (kept in audit records by design)."""
    return request.remote or "unknown"
