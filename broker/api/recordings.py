"""A session's recording through the API: ops download, admin legal hold.

``GET /v1/sessions/{id}/recording`` hands ops the asciicast, but only for
sessions of regions outside the EEA: an EEA recording's text stays in its
region, so the download is refused (403 ``recording_in_region_only``,
audited as ``recording.read_refused``) and the answer points to the replay,
which shows it as pixels in the region's viewer. A region the policy does
not know is refused the same way (fail closed).

``POST /v1/sessions/{id}/recording/legal-hold`` is the admin's export for a
legal hold: the instance that serves the session's region copies the file
into that region's own storage (``broker.recording.legal_hold``; in AWS mode,
once uploaded, a server-side copy inside the region's bucket under
``legal-hold/``) and answers
only where the copy is, its size and digest; audited as
``recording.exported``.

The region comes from the session in the store, never from the request, and
the file is read only from that region's folder on an instance that serves
the region. Every read is an audit event (``recording.read``): a recording
shows customer data. The body streams in chunks with ``Cache-Control:
no-store`` so no proxy or browser keeps a copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aiohttp import web

from broker import validate as v
from broker.api.middleware import read_json
from broker.api.routing import Route, principal, source_ip
from broker.api.serialize import json_response
from broker.auth.principal import Principal
from broker.errors import ForbiddenError, NotFoundError, RegionMismatch
from broker.events import EventSink
from broker.models import Session
from broker.recording.files import region_recording
from broker.recording.legal_hold import HoldCopy, copy_for_hold, hold_name
from broker.store.base import Store
from broker.typing import Region, SessionId

CHUNK = 256 * 1024
RemoteHold = Callable[[str, str], HoldCopy | None]
"""(``<session>.cast``, hold) -> the copy made in the region's bucket, or None if absent."""
MEDIA_TYPE = "application/x-asciicast"


@dataclass(frozen=True, slots=True)
class RecordingArchive:
    """Where this instance reads recordings: its state folder, for its regions."""

    state_dir: Path
    store: Store
    events: EventSink
    regions: frozenset[Region]
    region_eea: Mapping[str, bool]
    """The policy's region -> EEA table; a region missing from it counts as EEA."""
    remote_holds: Mapping[Region, RemoteHold] = field(default_factory=dict)
    """AWS mode: per region, the server-side copy inside its bucket for a recording
    no longer in the spool (``RecordingUploader.hold_copy``)."""

    async def served(self, session_id: SessionId) -> Session:
        """The session, if this instance serves its region."""
        session = await self.store.get_session(session_id)
        if session.region not in self.regions:
            raise RegionMismatch(
                "region_not_served",
                "this instance does not serve the session's region",
                session_id=session.id,
                region=session.region,
            )
        return session

    async def locate(self, session_id: SessionId) -> tuple[Session, Path]:
        """The session and its recording's path in the session's region folder."""
        session = await self.served(session_id)
        path = await asyncio.to_thread(region_recording, self.state_dir, session.region, session.id)
        return session, path

    def check_text_may_leave(self, session: Session, who: Principal, ip: str) -> None:
        """Refuse (and audit) a raw read of a recording whose text must stay in its region."""
        if self.region_eea.get(session.region) is False:
            return
        self.events.emit(
            "recording.read_refused",
            region=session.region,
            **session.ids(),
            reason="recording_in_region_only",
            actor=who.subject,
            role=who.role,
            source_ip=ip,
        )
        raise in_region_only(session.id)

    async def hold(self, session_id: SessionId, hold: str, who: Principal, ip: str) -> HoldCopy:
        """Copy the recording into its region's legal-hold storage; audited."""
        session = await self.served(session_id)
        copy = await asyncio.to_thread(self._copy, session, hold)
        self.events.emit(
            "recording.exported",
            region=session.region,
            **session.ids(),
            hold=hold,
            location=copy.location,
            bytes=copy.bytes,
            sha256=copy.sha256,
            actor=who.subject,
            role=who.role,
            source_ip=ip,
        )
        return copy

    def _copy(self, session: Session, hold: str) -> HoldCopy:
        """From the spool into the region's folder; else (AWS) inside the region's bucket."""
        try:
            path = region_recording(self.state_dir, session.region, session.id)
        except NotFoundError:
            remote = self.remote_holds.get(session.region)
            copy = None if remote is None else remote(f"{session.id}.cast", hold)
            if copy is None:
                raise
            return copy
        region_dir = self.state_dir / "regions" / session.region
        return copy_for_hold(region_dir, session.region, path, session.id, hold)


def in_region_only(session_id: str) -> ForbiddenError:
    """The refusal of a raw read: the text stays in the region; the replay shows it."""
    return ForbiddenError(
        "recording_in_region_only",
        "the recording of a session in an EEA region stays in its region: replay it"
        f" there as pixels with `broker recording view {session_id}`"
        f" (POST /v1/sessions/{session_id}/replay)",
        session_id=session_id,
        replay=f"/v1/sessions/{session_id}/replay",
    )


ARCHIVE = web.AppKey("recording_archive", RecordingArchive)


async def download(request: web.Request) -> web.StreamResponse:
    """Stream the recording as ``application/x-asciicast``; audited."""
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    archive = request.app[ARCHIVE]
    who = principal(request)
    archive.check_text_may_leave(await archive.served(session_id), who, source_ip(request))
    session, path = await archive.locate(session_id)
    stream = await asyncio.to_thread(path.open, "rb")
    try:
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


async def legal_hold(request: web.Request) -> web.Response:
    """Copy the recording for a legal hold inside its region; answers where, never what."""
    data = v.require_mapping(await read_json(request), "body")
    v.reject_unknown(data, ("hold",))
    hold = hold_name(v.field(data, "hold", v.identifier))
    session_id = SessionId(v.identifier(request.match_info["id"], "id"))
    copy = await request.app[ARCHIVE].hold(session_id, hold, principal(request), source_ip(request))
    body = {"session_id": session_id, "hold": hold, "location": copy.location}
    return json_response(body | {"bytes": copy.bytes, "sha256": copy.sha256}, status=201)


ROUTES = (
    Route(
        "GET",
        "/v1/sessions/{id}/recording",
        download,
        "Download a session's recording (asciicast v2), regions outside the EEA only",
        ("ops",),
        limits=(
            (
                "ops",
                "sessions in EEA regions (or regions the policy does not know) are refused"
                " with 403 recording_in_region_only; `replay` names the replay endpoint",
            ),
        ),
    ),
    Route(
        "POST",
        "/v1/sessions/{id}/recording/legal-hold",
        legal_hold,
        "Copy a recording for a legal hold into its region's own storage",
        ("admin",),
        "LegalHold",
        "LegalHoldCopy",
        status=201,
    ),
)
