"""Role checks shared by every use case. Authentication happened upstream."""

from __future__ import annotations

from broker.auth.principal import Principal
from broker.errors import ForbiddenError
from broker.typing import OrgId, Role


def require_role(principal: Principal, *roles: Role) -> None:
    """Forbid unless the caller holds one of ``roles``."""
    if principal.role not in roles:
        raise ForbiddenError("role_forbidden", f"requires role {' or '.join(roles)}")


def require_org_admin(principal: Principal, org_id: OrgId) -> None:
    """Forbid unless the caller is a customer admin of ``org_id``."""
    require_role(principal, "customer_admin")
    if principal.org != org_id:
        raise ForbiddenError("org_forbidden", "not an admin of this ticket's org")
