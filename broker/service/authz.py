"""Role checks shared by every use case. Authentication happened upstream.

A customer admin of another org is told a ticket or org does not exist, in the
very words an unknown id gets: a 403 for an existing id and a 404 for an
unknown one would let anyone holding a customer-admin token probe which ids
exist elsewhere.
"""

from __future__ import annotations

from broker.auth.principal import Principal
from broker.errors import ForbiddenError, NotFoundError
from broker.models import Ticket
from broker.store.base import Store
from broker.typing import OrgId, Role, TicketId


def require_role(principal: Principal, *roles: Role) -> None:
    """Forbid unless the caller holds one of ``roles``."""
    if principal.role not in roles:
        raise ForbiddenError("role_forbidden", f"requires role {' or '.join(roles)}")


def require_org_admin(principal: Principal, org_id: OrgId, *others: Role) -> None:
    """Allow ``others`` and customer admins of ``org_id``; hide the org from other orgs'.

    Callers check roles before they look anything up, so a role without access
    gets 403 whether or not the id exists."""
    require_role(principal, "customer_admin", *others)
    if principal.role == "customer_admin" and principal.org != org_id:
        raise NotFoundError("org_not_found", "unknown org", org_id=org_id)


async def org_ticket(
    store: Store, principal: Principal, ticket_id: TicketId, *others: Role
) -> Ticket:
    """The ticket, for its org's customer admins and ``others``; 404 for other orgs'."""
    require_role(principal, "customer_admin", *others)
    ticket = await store.get_ticket(ticket_id)
    if principal.role == "customer_admin" and principal.org != ticket.org_id:
        raise NotFoundError("ticket_not_found", "unknown ticket", ticket_id=ticket_id)
    return ticket
