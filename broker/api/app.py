"""The aiohttp application: middlewares, authentication and the route table.

Authentication is checked per route from its declared roles before the
handler runs; handlers then do finer checks (org, ownership) in the services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Protocol

from aiohttp import web

from broker.api import admin, audit, consent_requests, consents, recordings, sessions, viewer
from broker.api.middleware import SCRUBBER, Handler, context, errors, problem_response, timing
from broker.api.openapi import document
from broker.api.routing import PRINCIPAL, Route
from broker.api.serialize import json_response
from broker.audit import Auditor
from broker.auth.failures import AuthFailures
from broker.auth.principal import TokenVerifier, bearer_token
from broker.config.console import console_settings
from broker.console.app import PREFIX, create_console
from broker.errors import AuthenticationError, ForbiddenError
from broker.metrics import Metrics
from broker.service.admin import AdminService
from broker.service.audit import AuditService
from broker.service.consent_requests import ConsentRequestService
from broker.service.consents import ConsentService
from broker.service.context import Context
from broker.service.sessions import SessionService
from broker.service.viewer_links import ViewerLinks
from broker.typing import Region

MAX_BODY = 64 * 1024
CONTEXT = web.AppKey("context", Context)
METRICS = web.AppKey("metrics", Metrics)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)


class Peers(Protocol):
    """The instance's other API processes, as seen by the one serving a request.

    With ``api_processes = 1`` there are none (``NoPeers``); an API worker
    reaches the rest through the main process (``broker.runtime.workers.sink``).
    """

    async def flush_events(self) -> None:
        """Return once every event emitted so far can be read from the chains."""
        ...

    async def metrics(self, own: Metrics) -> Metrics:
        """``own`` counters summed with every other API process's."""
        ...


class NoPeers:
    """A single-process instance: its auditor flushes before reads; its metrics are all."""

    async def flush_events(self) -> None:
        """Nothing to wait for: ``Auditor.query`` flushes this process's writers."""

    async def metrics(self, own: Metrics) -> Metrics:
        """``own``."""
        return own


PEERS = web.AppKey("peers", Peers)


async def healthz(request: web.Request) -> web.Response:
    """200 when the store answers; 503 (fail closed) when it does not."""
    await request.app[CONTEXT].store.ping()
    return json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition, summed over every API process."""
    total = await request.app[PEERS].metrics(request.app[METRICS])
    return web.Response(text=total.render(), content_type="text/plain")


async def openapi(request: web.Request) -> web.Response:
    """This API's OpenAPI 3.1 document."""
    return json_response(document(all_routes(), request.app[CONTEXT].config.regions))


OPS_ROUTES = (
    Route("GET", "/healthz", healthz, "Liveness and store reachability", None, None, "Health"),
    Route("GET", "/metrics", metrics, "Prometheus metrics", None),
    Route("GET", "/openapi.json", openapi, "This document", None, None, "Health"),
)


def all_routes() -> tuple[Route, ...]:
    """Every endpoint the app serves."""
    routes = (sessions, viewer, consents, admin, recordings, audit, consent_requests)
    return OPS_ROUTES + tuple(route for module in routes for route in module.ROUTES)


def _guarded(route: Route, verifier: TokenVerifier, failures: AuthFailures) -> Handler:
    """Wrap a handler with token verification and the route's role check."""
    roles = route.roles
    if roles is None:
        return route.handler

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            who = verifier.verify_token(bearer_token(request.headers.get("Authorization")))
        except AuthenticationError as error:
            failures.failed(request.remote, error.code, method="bearer")
            return problem_response(error, request)
        if who.role not in roles:
            raise ForbiddenError("role_forbidden", f"requires role {' or '.join(roles)}")
        request[PRINCIPAL] = who
        return await route.handler(request)

    return handler


def create_app(
    ctx: Context,
    verifier: TokenVerifier,
    auditor: Auditor,
    registry: Metrics | None = None,
    peers: Peers | None = None,
    remote_holds: Mapping[Region, recordings.RemoteHold] | None = None,
) -> web.Application:
    """The broker's HTTP API over ``ctx`` (one of ``peers`` when several processes serve it)."""
    counters = registry or Metrics()
    peers = peers or NoPeers()
    app = web.Application(client_max_size=MAX_BODY, middlewares=[context, errors, timing(counters)])
    app[CONTEXT] = ctx
    app[METRICS] = counters
    app[PEERS] = peers
    app[sessions.SERVICE] = SessionService(ctx, counters)
    app[viewer.SERVICE] = ViewerLinks(ctx)
    app[consents.SERVICE] = ConsentService(ctx)
    app[consent_requests.SERVICE] = ConsentRequestService(ctx)
    app[admin.SERVICE] = AdminService(ctx)
    app[audit.SERVICE] = AuditService(ctx, auditor, peers.flush_events)
    app[SCRUBBER] = auditor.redactor.ephemeral().value
    app[recordings.ARCHIVE] = recordings.RecordingArchive(
        ctx.config.state_dir,
        ctx.store,
        ctx.events,
        # ``broker api`` reads no region's storage: downloads and legal holds are
        # ``broker run``'s (region_not_served here); replays go to the unit's viewer.
        frozenset(() if ctx.units_required else ctx.config.regions),
        ctx.policy.region_eea,
        remote_holds or {},
    )
    failures = AuthFailures(partial(ctx.events.emit, region=ctx.config.regions[0]), ctx.clock)
    app[AUTH_FAILURES] = failures
    app.cleanup_ctx.append(_flush_auth_failures)
    for route in all_routes():
        app.router.add_route(route.method, route.path, _guarded(route, verifier, failures))
    # The web console (broker/console/): server-rendered pages over the same services.
    console = create_console(ctx, console_settings(ctx.config.console), verifier)
    app.add_subapp(PREFIX.rstrip("/"), console)
    return app


async def _flush_auth_failures(app: web.Application) -> AsyncIterator[None]:
    """Close due auth-failure intervals while the app runs; audit the rest at its end."""
    async with app[AUTH_FAILURES].flushing():
        yield
