"""The API's services, as the console's pages reach them.

The console is mounted inside the API application, so ``request.config_dict``
finds the very service objects the API's handlers use: a page runs the same
use case, with the same authorisation, audit and errors, as the endpoint.
"""

from __future__ import annotations

from aiohttp import web

from broker.api import audit, consents, sessions, viewer
from broker.api import consent_requests as api_consent_requests
from broker.service.audit import AuditService
from broker.service.consent_requests import ConsentRequestService
from broker.service.consents import ConsentService
from broker.service.sessions import SessionService
from broker.service.viewer_links import ViewerLinks


def session_service(request: web.Request) -> SessionService:
    """Sessions: list, get, revoke."""
    return request.config_dict[sessions.SERVICE]


def consent_service(request: web.Request) -> ConsentService:
    """Consents: list, grant, revoke."""
    return request.config_dict[consents.SERVICE]


def viewer_links(request: web.Request) -> ViewerLinks:
    """Single-use links into a region's viewer: watch and replay."""
    return request.config_dict[viewer.SERVICE]


def audit_service(request: web.Request) -> AuditService:
    """The audit trail and the TIA."""
    return request.config_dict[audit.SERVICE]


def consent_requests(request: web.Request) -> ConsentRequestService:
    """Consent requests: list, get, approve, deny."""
    return request.config_dict[api_consent_requests.SERVICE]
