"""``GET /v1/sessions/{id}/recording``: the session's asciicast, for ops only.

The region comes from the session in the store, never from the request, and
the file is read only from that region's folder on an instance that serves
the region. Every read is an audit event (``recording.read``): a recording
shows customer data. The body streams in chunks with ``Cache-Control:
no-store`` so no proxy or browser keeps a copy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from broker import validate as v
from broker.api.routing import Route, principal, source_ip
from broker.errors import RegionMismatch
from broker.events import EventSink
from broker.models import Session
from broker.recording.files import region_recording
from broker.store.base import Store
from broker.typing import Region, SessionId

CHUNK = 256 * 1024
MEDIA_TYPE = "application/x-asciicast"


@dataclass(frozen=True, slots=True)
class RecordingArchive:
    """Where this instance reads recordings: its state folder, for its regions."""

    state_dir: Path
    store: Store
    events: EventSink
    regions: frozenset[Region]

    async def locate(self, session_id: SessionId) -> tuple[Session, Path]:
        """The session and its recording's path in the session's region folder."""
        session = await self.store.get_session(session_id)
        if session.region not in self.regions:
            raise RegionMismatch(
                "region_not_served",
                "this instance does not serve the session's region",
                session_id=session.id,
                region=session.region,
            )
        path = await asyncio.to_thread(region_recording, self.state_dir, session.region, session.id)
        return session, path


ARCHIVE = web.AppKey("recording_archive", RecordingArchive)


async def download(request: web.Request) -> web.StreamResponse:
    """Stream the recording as ``application/x-asciicast``; audited."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    archive = request.app[ARCHIVE]
    session, path = await archive.locate(session_id)
    stream = await asyncio.to_thread(path.open, "rb")
    try:
        who = principal(request)
        archive.events.emit(
            "recording.read",
            region=session.region,
            **session.ids(),
            actor=who.subject,
            role=who.role,
            source_ip=source_ip(request),
        )
        return await _stream(request, stream, f"{session.id}.cast")
    finally:
        stream.close()


async def _stream(request: web.Request, stream: BinaryIO, name: str) -> web.StreamResponse:
    """Send the open file in chunks without blocking the loop on disk reads."""
    response = web.StreamResponse(
        headers={
            "Content-Type": MEDIA_TYPE,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'attachment; filename="{name}"',
        }
    )
    await response.prepare(request)
    while chunk := await asyncio.to_thread(stream.read, CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response


ROUTES = (
    Route(
        "GET",
        "/v1/sessions/{id}/recording",
        download,
        "Download a session's recording (asciicast v2)",
        ("ops",),
    ),
)
