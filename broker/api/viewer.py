"""``/v1/sessions/{id}/resume`` and ``/watch``: fresh single-use viewer links.

``resume`` is the engineer's own way back into a live view session; ``watch``
gives ops or the ticket org's customer admin a read-only view of it; ``replay``
gives them the session's recording, played in its region's viewer as pixels.
"""

from __future__ import annotations

from aiohttp import web

from broker import validate as v
from broker.api.routing import Route, principal, source_ip
from broker.api.serialize import iso, json_response
from broker.service.viewer_links import ViewerLink, ViewerLinks
from broker.typing import SessionId

SERVICE = web.AppKey("viewer_links", ViewerLinks)


def link_json(link: ViewerLink) -> dict[str, object]:
    """The answer: the URL to open and when it stops working if unused."""
    return {
        "session_id": link.session.id,
        "region": link.session.region,
        "viewer_url": link.url,
        "link_expires_at": iso(link.expires_at),
    }


async def resume(request: web.Request) -> web.Response:
    """Mint a new single-use link; the page already open (if any) is closed when it is used."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    link = await request.app[SERVICE].resume(principal(request), session_id, source_ip(request))
    return json_response(link_json(link), status=201)


async def watch(request: web.Request) -> web.Response:
    """Mint a single-use read-only link to a live view session."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    link = await request.app[SERVICE].watch(principal(request), session_id, source_ip(request))
    return json_response(link_json(link), status=201)


async def replay(request: web.Request) -> web.Response:
    """Mint a single-use link that replays the session's recording in its region."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    link = await request.app[SERVICE].replay(principal(request), session_id, source_ip(request))
    return json_response(link_json(link), status=201)


ROUTES = (
    Route(
        "POST",
        "/v1/sessions/{id}/resume",
        resume,
        "Resume a view session in the browser (a fresh single-use link)",
        ("engineer",),
        None,
        "ViewerLink",
        201,
    ),
    Route(
        "POST",
        "/v1/sessions/{id}/watch",
        watch,
        "Watch a live view session, read-only (a single-use link to the region's viewer)",
        ("ops", "customer_admin"),
        None,
        "ViewerLink",
        201,
        limits=(("customer_admin", "only sessions on their own org's tickets (others: 404)"),),
    ),
    Route(
        "POST",
        "/v1/sessions/{id}/replay",
        replay,
        "Replay a session's recording in its region's viewer, as pixels (a single-use link)",
        ("ops", "customer_admin"),
        None,
        "ViewerLink",
        201,
        limits=(("customer_admin", "only sessions on their own org's tickets (others: 404)"),),
    ),
)
