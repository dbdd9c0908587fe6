"""Engineer pages for consent requests: ask a ticket's org for consent, see and withdraw
their requests.

An engineer the policy denies with ``consent_required`` can ask from the
ticket's page: a duration (up to seven days) and a reason for the customer's
administrators. The reason is free text: the service pseudonymises it before
it is stored, and it never reaches the audit trail or a notification.
"""

from __future__ import annotations

from aiohttp import web

from broker import validate as v
from broker.console.pages import form, now, page, principal
from broker.console.render import add_notices, redirect
from broker.console.services import consent_requests
from broker.models import ConsentRequest
from broker.service.consent_requests import RequestFilter, check_duration
from broker.typing import ConsentRequestId, TicketId

DURATIONS = ((3600, "1 hour"), (2 * 3600, "2 hours"), (4 * 3600, "4 hours"),
             (8 * 3600, "8 hours"), (24 * 3600, "1 day"), (3 * 24 * 3600, "3 days"),
             (7 * 24 * 3600, "7 days"))  # fmt: skip
"""The durations the form offers (the service accepts any from a minute to 7 days)."""
RECENT = 20


async def my_requests(request: web.Request) -> list[ConsentRequest]:
    """The engineer's newest requests, as they read now (for their home page)."""
    found = await consent_requests(request).list(principal(request), RequestFilter(limit=RECENT))
    at = now(request)
    return [r.as_of(at) for r in found.items]


async def pending_for(request: web.Request, ticket_id: TicketId) -> ConsentRequest | None:
    """The engineer's pending request on ``ticket_id``, if any (one at a time per ticket)."""
    wanted = RequestFilter(state="pending", ticket_id=ticket_id, limit=1)
    found = await consent_requests(request).list(principal(request), wanted)
    at = now(request)
    live = [r for r in found.items if r.as_of(at).state == "pending"]
    return live[0] if live else None


@page("engineer")
async def ask(request: web.Request) -> web.Response:
    """Ask the ticket's org for consent (CSRF-checked POST); home, with a notice."""
    ticket_id = TicketId(v.identifier(request.match_info["id"], "id"))
    data = form(request)
    seconds = check_duration(v.digits(str(data.get("duration", "")), "duration", 1, 10**7))
    reason = str(data.get("reason", "")).strip()
    await consent_requests(request).request(principal(request), ticket_id, seconds, reason)
    return redirect(request, "engineer.home", "consent_requested")


@page("engineer")
async def cancel(request: web.Request) -> web.Response:
    """Withdraw one of their pending requests (CSRF-checked POST)."""
    request_id = ConsentRequestId(v.identifier(request.match_info["id"], "id"))
    await consent_requests(request).cancel(principal(request), request_id)
    return redirect(request, "engineer.home", "consent_request_cancelled")


def add_routes(app: web.Application) -> None:
    """The ask and cancel forms (the lists are on the engineer's pages)."""
    app.router.add_post("/engineer/tickets/{id}/consent-requests", ask, name="engineer.ask")
    app.router.add_post("/engineer/consent-requests/{id}/cancel", cancel, name="engineer.cancel")
    add_notices(
        {
            "consent_requested": "Your request is with the customer's administrators.",
            "consent_request_cancelled": "Your request is withdrawn.",
        }
    )
