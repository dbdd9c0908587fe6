"""A real broker runtime with its regional viewers, and a WebSocket page client.

``ViewerEnv`` opens sessions through the real API, takes single-use links
from the broker's own ``ViewerLinks`` and connects to the region's viewer
with aiohttp's client, speaking the page's protocol. Events are teed from
the EU and US gateways into memory so tests can read the audit trail's input.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from broker.auth.local import LocalAuthority
from broker.config import Config
from broker.events import MemorySink, TeeSink
from broker.models import Session
from broker.runtime.root import Runtime
from broker.typing import Region, SessionId

EU = Region("eu-central-1")
US = Region("us-east-1")
WAIT = 20.0
PUBLIC = "https://viewer.example"
"""The advertised viewer origin of the ``public_env`` fixture (a load balancer's TLS
listener; none runs: pages connect to the bound port, sending it as ``Origin``)."""


@dataclass
class PageClient:
    """One page's socket: control messages and frames as they arrive."""

    ws: aiohttp.ClientWebSocketResponse
    controls: list[dict[str, Any]] = field(default_factory=list)
    frames: list[bytes] = field(default_factory=list)

    async def hello(self, url: str) -> None:
        """Send the token from ``url``'s fragment, as the page does."""
        await self.ws.send_str(json.dumps({"type": "hello", "token": url.split("#", 1)[1]}))

    async def send(self, kind: str, **fields: Any) -> None:
        """One client message."""
        await self.ws.send_str(json.dumps({"type": kind, **fields}))

    async def _pull(self) -> bool:
        """Read one message into ``frames`` or ``controls``; False once the socket closed."""
        got = await self.ws.receive()
        if got.type == aiohttp.WSMsgType.BINARY:
            self.frames.append(got.data)
        elif got.type == aiohttp.WSMsgType.TEXT:
            self.controls.append(json.loads(got.data))
        else:
            return False
        return True

    async def control(self, kind: str) -> dict[str, Any]:
        """Read until a control message of ``kind`` (frames and other messages are kept)."""
        async with asyncio.timeout(WAIT):
            while True:
                for message in self.controls:
                    if message["type"] == kind:
                        self.controls.remove(message)
                        return message
                if not await self._pull():
                    raise AssertionError(f"socket closed waiting for {kind}")

    async def frame(self) -> bytes:
        """The first frame message (reading until one has come)."""
        async with asyncio.timeout(WAIT):
            while not self.frames:
                if not await self._pull():
                    raise AssertionError("socket closed waiting for a frame")
        return self.frames[0]

    async def closed(self) -> None:
        """Read (keeping frames) until the server closes the socket."""
        async with asyncio.timeout(WAIT):
            while await self._pull():
                pass


@dataclass
class ViewerEnv:
    """The runtime, an HTTP client for its API and viewers, and the teed events."""

    runtime: Runtime
    http: aiohttp.ClientSession
    authority: LocalAuthority
    events: MemorySink
    first_links: dict[SessionId, str] = field(default_factory=dict)

    def viewer(self, region: Region = EU) -> str:
        """The region's viewer origin."""
        return self.runtime.viewers[region].origin

    def auth(self, staff: str, role: str = "engineer") -> dict[str, str]:
        """A bearer header for ``staff``."""
        return {"Authorization": f"Bearer {self.authority.mint_token(staff, role, None)}"}

    async def open_session(self, staff: str = "eng-de-1", ticket: str = "T-1001") -> Session:
        """A view session through the real API (no public key); its link is kept."""
        body = {"ticket_id": ticket, "target": "app-1"}
        answer = await self._post("/v1/sessions", staff, body)
        assert answer["access"] == "view"
        session_id = SessionId(answer["session_id"])
        self.first_links[session_id] = answer["viewer_url"]
        assert self.runtime.store is not None
        return await self.runtime.store.get_session(session_id)

    async def link(self, session: Session) -> str:
        """The link the grant answered with, then fresh ones from ``/resume``."""
        if session.id in self.first_links:
            return self.first_links.pop(session.id)
        answer = await self._post(f"/v1/sessions/{session.id}/resume", session.staff_id)
        return str(answer["viewer_url"])

    async def _post(self, path: str, staff: str, body: Any = None) -> dict[str, Any]:
        async with self.http.post(
            self.runtime.api_url + path, json=body, headers=self.auth(staff)
        ) as response:
            assert response.status == 201, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer

    async def page(self, url: str, origin: str | None = None) -> PageClient:
        """Open ``url``'s socket with the page's Origin and say hello."""
        base = url.split("/#", 1)[0]
        ws = await self.http.ws_connect(f"{base}/ws", origin=origin or base)
        client = PageClient(ws)
        await client.hello(url)
        return client

    async def revoke(self, session: Session) -> None:
        """Revoke through the API as ops."""
        async with self.http.delete(
            f"{self.runtime.api_url}/v1/sessions/{session.id}", headers=self.auth("ops-1", "ops")
        ) as response:
            assert response.status == 200, await response.text()


async def viewer_env(runtime: Runtime) -> AsyncIterator[ViewerEnv]:
    """Wrap a started runtime: tee its gateways' events, open an HTTP client."""
    events = MemorySink()
    for gateway in runtime.gateways.values():
        gateway.ctx.events = TeeSink(events, gateway.ctx.events)
    authority = LocalAuthority.from_state(runtime.config.state_dir, clock=runtime.clock)
    async with aiohttp.ClientSession() as http:
        yield ViewerEnv(runtime, http, authority, events)


@asynccontextmanager
async def started_env(config: Config) -> AsyncIterator[ViewerEnv]:
    """A runtime started on ``config``, wrapped by ``viewer_env``, stopped afterwards."""
    runtime = Runtime(config)
    await runtime.start()
    try:
        async for made in viewer_env(runtime):
            yield made
    finally:
        await runtime.stop()


def screen_text(
    runtime: Runtime, session_id: SessionId, region: Region = EU, offset: int = 0
) -> str:
    """The server's own screen of a live view session, as text (tests only: never sent);
    empty until the session's page has attached; ``offset`` lines back in the scrollback."""
    live = runtime.viewers[region].sessions.get(session_id)
    if live is None:
        return ""
    view = live.view
    screen = view._screen  # the emulator; the browser only ever gets its pixels
    cols, rows = view.size
    lines = []
    for y in range(rows):
        line = screen.view_line(y, offset)
        lines.append("".join(line[x].data if x in line else " " for x in range(cols)).rstrip())
    return "\n".join(lines)


async def until(check: Callable[[], bool]) -> None:
    """Poll ``check`` until true, bounded by ``WAIT`` (state changed by other tasks)."""
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 - no event to wait on: screens and sinks are polled
            await asyncio.sleep(0.05)


async def until_screen_has(
    runtime: Runtime, session_id: SessionId, text: str, region: Region = EU
) -> str:
    """Poll the server's screen until ``text`` shows (bounded by ``WAIT``)."""
    await until(lambda: text in screen_text(runtime, session_id, region))
    return screen_text(runtime, session_id, region)
