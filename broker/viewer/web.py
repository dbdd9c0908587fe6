"""The regional viewer: an aiohttp app inside the region's gateway process.

It serves one static page (HTML, its own JS and CSS) and ``/ws``. Every
response carries a strict CSP (no inline code, no framing), no referrer, no
caching and no MIME sniffing. The WebSocket:

1. checks ``Origin`` before anything else: exactly this viewer's own origin, or
   the public origin its links advertise (an NLB's TLS listener), nothing else;
2. takes the single-use token from the first message and claims it in the
   store for this region (unknown, used, expired and other regions' tokens
   are refused, audited, and the page is told why);
3. attaches the page to the session's ``ViewerSession``, starting it (the
   store's ``issued -> connected`` step, the target shell) on first use;
4. relays keys, pastes (at most 64 KiB, size audited), resizes and scrolling.

A watcher's link (holder ``watch:<role>:<id>``, see ``broker.viewer.tokens``) joins a
session that is already running here as a read-only page
(``broker.viewer.watch``): it never starts a session, and its keys and
pastes are answered ``read_only`` and dropped.

A page that goes away leaves the session running, detached, for a resumed
link to pick up within the idle bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from broker.errors import (
    BrokerError,
    ConflictError,
    ForbiddenError,
    InputError,
    NotFoundError,
    UnavailableError,
)
from broker.gateway.context import GatewayContext, log
from broker.models import Session, ViewerToken
from broker.recording.files import check_header_region, region_recording
from broker.typing import SessionId
from broker.viewer import protocol, snapshots
from broker.viewer.live import ViewerSession
from broker.viewer.page import Page
from broker.viewer.replay import ReplaySession
from broker.viewer.tokens import replayer_of, token_digest, watcher_of, well_formed
from broker.viewer.watch import Watcher

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self';"
        " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none';"
        " frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
"""Sent on every response, the WebSocket upgrade and errors included."""
STATIC = {
    "/": ("viewer.html", "text/html"),
    "/viewer.js": ("viewer.js", "text/javascript"),
    "/viewer.css": ("viewer.css", "text/css"),
}
HELLO_WAIT = 10.0
"""Seconds a page has to send its token after the socket opens."""
PAGE_REFUSAL = {
    "viewer_token_unknown": "token_invalid",
    "viewer_token_used": "token_used",
    "viewer_token_expired": "token_expired",
    "viewer_token_region": "wrong_region",
    "session_not_live": "session_ended",
    "viewer_no_token": "token_invalid",
    "audit_unavailable": "unavailable",
    "session_not_started": "not_started",
    "recording_not_found": "no_recording",
    "recording_region": "no_recording",
}
"""Store and check codes -> the page's ``error`` codes (viewer.js words them)."""
FRAGMENT_KEY = "t="
REPLAY_CACHE = "replay-cache"
"""AWS mode: recordings read back from the region's bucket for replay, in the region's folder."""


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(HEADERS)


def link_token(sent: str) -> str | None:
    """The token from the page's hello (the fragment, ``t=...``), if well formed."""
    token = sent.removeprefix(FRAGMENT_KEY)
    return token if well_formed(token) else None


class RegionViewer:
    """The viewer of one region, sharing its gateway's context (store, hooks, watcher)."""

    def __init__(
        self,
        ctx: GatewayContext,
        *,
        eea: bool = True,
        state_dir: Path | None = None,
        fetch: Callable[[str, Path], bool] | None = None,
        public_origin: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.public_origin = public_origin
        """The origin the links advertise when it is not the bound one (``advertise_viewer``,
        normalised by ``broker.config.viewer_origin``): a page loaded through a load
        balancer's TLS listener sends it as ``Origin``. None: only the bound origin."""
        self.state_dir = state_dir
        self.fetch = fetch
        """AWS mode: reads an uploaded recording from the region's bucket into the
        region's folder on this unit (``RecordingUploader.fetch``)."""
        """Where the region's recordings are (replays); None: this viewer replays nothing."""
        self.eea = eea
        """Whether the region is in the EEA (an org's ``require_watch`` applies only
        there); a caller that does not know says True (fail closed)."""
        self.sessions: dict[SessionId, ViewerSession] = {}
        self.replays: set[ReplaySession] = set()
        self.origin = ""
        self.health: Callable[[], Awaitable[list[str]]] | None = None
        """The unit's health check (reasons it is unhealthy); set, ``/healthz`` answers it."""
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        """The aiohttp application (static page and ``/ws``)."""
        app = web.Application(client_max_size=1024)
        app.on_response_prepare.append(_security_headers)
        for path in STATIC:
            app.router.add_get(path, self._static)
        app.router.add_get("/ws", self._socket)
        app.router.add_get("/healthz", self._healthz)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on its own loopback port; return the viewer's URL (its origin)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.origin = f"http://{host}:{bound}"
        log.info("viewer.listening", region=self.ctx.region, origin=self.origin)
        return self.origin

    async def stop(self) -> None:
        """End every view session still here (the gateway's stop reason); stop listening."""
        live = list(self.sessions.values())
        await asyncio.gather(*(one.link.terminate("gateway_stopping") for one in live))
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- HTTP --------------------------------------------------------------
    async def _healthz(self, _request: web.Request) -> web.Response:
        """200 when the unit serves (an NLB's health check); else 503 with the reasons."""
        if self.health is None:
            raise web.HTTPNotFound
        reasons = await self.health()
        body = {"region": self.ctx.region, "ok": not reasons, "reasons": reasons}
        return web.json_response(body, status=503 if reasons else 200)

    async def _static(self, request: web.Request) -> web.Response:
        name, kind = STATIC[request.path]
        body = resources.files("broker.viewer").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=kind, charset="utf-8")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        """The page's socket: Origin first, then the token, then the session."""
        source_ip = request.remote or "unknown"
        if not self.allows_origin(request.headers.get("Origin")):
            self._refused(None, "bad_origin", source_ip)
            raise web.HTTPForbidden(text="origin not allowed")
        ws = web.WebSocketResponse(max_msg_size=protocol.MAX_CLIENT_MESSAGE, heartbeat=20.0)
        await ws.prepare(request)
        sock = request.transport.get_extra_info("socket") if request.transport else None
        page = Page(ws, sock)
        opened = await self._open(page, source_ip)
        if isinstance(opened, ReplaySession):
            self.replays.add(opened)
            try:
                await opened.serve()
            finally:
                self.replays.discard(opened)
        elif opened is not None:
            live, watcher = opened
            if watcher is not None:
                await self._serve_watcher(live, watcher)
            else:
                await self._serve(live, page)
        if not isinstance(opened, tuple) or opened[1] is not None or opened[0].attached is not page:
            await page.close()
        return ws

    def allows_origin(self, sent: str | None) -> bool:
        """Exactly the bound origin or the advertised public one: compared as whole
        strings (no prefix, case or default-port leniency), so no other page can
        open a session's socket with an engineer's ambient access."""
        return bool(sent) and sent in (self.origin, self.public_origin)

    # -- the token exchange ------------------------------------------------
    async def _open(
        self, page: Page, source_ip: str
    ) -> tuple[ViewerSession, Watcher | None] | ReplaySession | None:
        """Read the hello, claim its token, then attach the engineer, join a watcher
        or open a replay; or tell the page why not."""
        try:
            claimed = await self._claim(await self._hello(page))
            return await self._attach(claimed, page, source_ip)
        except BrokerError as error:
            session_id = error.ids.get("session_id")
            self._refused(SessionId(session_id) if session_id else None, error.code, source_ip)
            await page.refuse(PAGE_REFUSAL.get(error.code, "token_invalid"))
            return None

    async def _hello(self, page: Page) -> str:
        """The first message: the single-use token."""
        try:
            message = await page.ws.receive(timeout=HELLO_WAIT)
        except TimeoutError as error:
            raise InputError("hello", "no token sent in time", "viewer_no_token") from error
        if message.type != WSMsgType.TEXT:
            raise InputError("hello", "expected the hello message", "viewer_no_token")
        hello = protocol.parse_client(message.data)
        token = link_token(hello.token) if isinstance(hello, protocol.Hello) else None
        if token is None:
            raise InputError("token", "is not a viewer link token", "viewer_token_unknown")
        return token

    async def _claim(self, token: str) -> ViewerToken:
        """Claim the token here, once (fails closed while the audit trail is unwritable)."""
        if not self.ctx.audit_ok():  # nothing done in the session could be audited: fail closed
            raise UnavailableError("audit_unavailable", "the region's audit trail is unwritable")
        now = self.ctx.clock.now()
        return await self.ctx.store.claim_viewer_token(token_digest(token), self.ctx.region, now)

    async def _attach(
        self, claimed: ViewerToken, page: Page, source_ip: str
    ) -> tuple[ViewerSession, Watcher | None] | ReplaySession:
        """By the link's holder: a replay, a watcher of the running session, or its engineer."""
        session_id = claimed.session_id
        replayer = replayer_of(claimed.staff_id)
        if replayer is not None:
            return await self._replay(session_id, page, replayer, source_ip)
        live = self._live(session_id)
        watcher = watcher_of(claimed.staff_id)
        if watcher is None:
            live = await self._engineer(session_id, live, claimed.claimed_at, source_ip)
            await live.attach(page)
            return live, None
        if live is None:
            raise ConflictError(
                "session_not_started", "the session is not running in this viewer",
                session_id=session_id,
            )  # fmt: skip
        return live, await live.watchers.join(watcher, page, source_ip)

    async def _replay(
        self, session_id: SessionId, page: Page, who: tuple[str, str], source_ip: str
    ) -> ReplaySession:
        """The session's recording from this region's folder, ready to play for ``page``."""
        session = await self.ctx.store.get_session(session_id)
        path = await asyncio.to_thread(self.recording_path, session_id)
        recording = await asyncio.to_thread(snapshots.load, path, self.ctx.region)
        return ReplaySession(self.ctx, session, recording, page, who, source_ip)

    def recording_path(self, session_id: SessionId) -> Path:
        """The recording in this region's spool folder, or (AWS mode) read from the
        region's bucket into its replay cache; ``NotFoundError`` when neither has it."""
        if self.state_dir is None:
            raise NotFoundError("recording_not_found", "no recordings here", session_id=session_id)
        try:
            return region_recording(self.state_dir, self.ctx.region, session_id)
        except NotFoundError:
            if self.fetch is None:
                raise
        cache = self.state_dir / "regions" / self.ctx.region / REPLAY_CACHE
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = cache / f"{session_id}.cast"
        if not path.is_file() and not self.fetch(path.name, path):
            raise NotFoundError(
                "recording_not_found", "no recording for this session", session_id=session_id
            )
        check_header_region(path, self.ctx.region)
        return path

    async def _engineer(
        self,
        session_id: SessionId,
        live: ViewerSession | None,
        now: datetime | None,
        source_ip: str,
    ) -> ViewerSession:
        """The engineer's link: the running session, or start it."""
        if live is not None:
            return live
        stored = await self.ctx.store.get_session(session_id)
        if stored.access != "view":
            raise ForbiddenError("not_a_view_session", "a terminal session has no viewer")
        required = self.eea and (await self.ctx.store.get_org(stored.org_id)).require_watch
        try:
            session = await self.ctx.claim(session_id, now or self.ctx.clock.now())
        except ConflictError:
            # Two fresh links for one new session raced: the other page started it.
            live = self._live(session_id)
            if live is None:
                raise
            return live
        return self._start(session, source_ip, required)

    def _live(self, session_id: SessionId) -> ViewerSession | None:
        """The session's running viewer session, unless it is ending."""
        live = self.sessions.get(session_id)
        return live if live is not None and not live.closed else None

    def _start(self, session: Session, source_ip: str, watch_required: bool) -> ViewerSession:
        """A new view session: registered with the watcher, announced, its shell opened."""
        live = ViewerSession(self.ctx, session, source_ip, watch_required=watch_required)
        self.sessions[session.id] = live
        self.ctx.links[session.id] = live.link
        live.on_closed = lambda: self._forget(live)
        live.link.emit(
            "session.connected", target=session.target, source_ip=source_ip, access="view"
        )
        live.start()
        return live

    def _forget(self, live: ViewerSession) -> None:
        if self.sessions.get(live.session.id) is live:
            del self.sessions[live.session.id]

    def _refused(self, session_id: SessionId | None, reason: str, source_ip: str) -> None:
        """Audit a refused viewer connection (bad origin, no or unclaimable token)."""
        ids: dict[str, Any] = {"session_id": session_id} if session_id else {}
        self.ctx.emit("viewer.refused", reason=reason, source_ip=source_ip, **ids)

    # -- the session's messages --------------------------------------------
    async def _serve(self, live: ViewerSession, page: Page) -> None:
        """Relay the page's input until it goes away, is replaced, or the session ends."""
        try:
            async for message in page.ws:
                if live.attached is not page or message.type != WSMsgType.TEXT:
                    break
                try:
                    await self._handle(live, page, protocol.parse_client(message.data))
                except InputError as error:  # the message is refused; the session goes on
                    await page.send_text(protocol.error_for(error))
        finally:
            live.detach(page)

    async def _serve_watcher(self, live: ViewerSession, watcher: Watcher) -> None:
        """A watcher's page: it may scroll its own view; keys and pastes go nowhere."""
        page = watcher.page
        try:
            async for message in page.ws:
                if watcher not in live.watchers or message.type != WSMsgType.TEXT:
                    break
                try:
                    await self._watcher_message(watcher, protocol.parse_client(message.data))
                except InputError as error:
                    await page.send_text(protocol.error_for(error))
        finally:
            live.watchers.leave(watcher, "page_closed")

    async def _watcher_message(self, watcher: Watcher, message: protocol.ClientMessage) -> None:
        """One message from a watcher's page."""
        if isinstance(message, protocol.Input | protocol.Paste):
            raise InputError("type", "this is a read-only view", "read_only")
        if isinstance(message, protocol.Scroll):
            watcher.view.scroll(message.lines)
            watcher.page.wake()
        elif not isinstance(message, protocol.Resize):
            raise InputError("type", "hello is sent once", "unexpected_message")

    async def _handle(
        self, live: ViewerSession, page: Page, message: protocol.ClientMessage
    ) -> None:
        """One message from the page."""
        if isinstance(message, protocol.Input):
            live.keys(message.data.encode())
        elif isinstance(message, protocol.Paste):
            live.paste(message.data.encode())
        elif isinstance(message, protocol.Resize):
            live.resize(message.cols, message.rows)
            await page.resized()
        elif isinstance(message, protocol.Scroll):
            live.scroll(message.lines)
        else:
            raise InputError("type", "hello is sent once", "unexpected_message")
