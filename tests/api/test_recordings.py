"""``GET /v1/sessions/{id}/recording`` over HTTP: ops only, from the session's region."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.api.recordings import RecordingArchive
from broker.errors import RegionMismatch
from broker.events import MemorySink
from broker.recording.recorder import RecordingStore
from broker.typing import Region, SessionId
from tests.api.conftest import Api

OSC52 = b"\x1b]52;c;c2VjcmV0\x07"


@pytest.fixture
async def rec_api(api: Api) -> Api:
    """The shared API fixture (the recording route is part of ``create_app``)."""
    return api


async def recorded_session(api: Api, staff: str = "eng-de-1", ticket: str = "T-1001") -> Path:
    """Grant a session and record a little of it in its region's folder."""
    response = await api.grant(staff, ticket)
    assert response.status == 201, await response.text()
    session = await api.store.get_session(SessionId((await response.json())["session_id"]))
    recorder = RecordingStore(api.state, session.region, api.clock, min_free_bytes=0)(session)
    recorder.start("xterm", 80, 24)
    recorder.output(b"customer row 1\r\n")
    recorder.close("shell_exited")
    return recorder.path


def url(path: Path) -> str:
    """The recording URL of the session a recording belongs to."""
    return f"/v1/sessions/{path.stem}/recording"


class TestDownload:
    """The asciicast download."""

    async def test_ops_gets_the_file(self, rec_api: Api) -> None:
        """Ops receive the exact file, as asciicast, never cached; the read is audited."""
        path = await recorded_session(rec_api)
        response = await rec_api.client.get(url(path), headers=rec_api.token("ops-1", "ops"))
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-asciicast"
        assert response.headers["Cache-Control"] == "no-store"
        assert await response.read() == path.read_bytes()
        reads = rec_api.events.of("recording.read")
        assert len(reads) == 1
        assert reads[0]["session_id"] == path.stem
        assert reads[0]["region"] == "eu-central-1"
        assert reads[0]["actor"] == "ops-1"

    @pytest.mark.parametrize(("subject", "role"), [("eng-de-1", "engineer"), ("adm-1", "admin")])
    async def test_other_roles_forbidden(self, rec_api: Api, subject: str, role: str) -> None:
        """Even the engineer who ran the session, or an admin, cannot download it."""
        path = await recorded_session(rec_api)
        response = await rec_api.client.get(url(path), headers=rec_api.token(subject, role))
        assert response.status == 403
        assert rec_api.events.of("recording.read") == []

    async def test_no_token(self, rec_api: Api) -> None:
        """Without a token the answer is 401."""
        path = await recorded_session(rec_api)
        assert (await rec_api.client.get(url(path))).status == 401

    async def test_unknown_session(self, rec_api: Api) -> None:
        """An unknown session id is 404."""
        response = await rec_api.client.get(
            "/v1/sessions/nope/recording", headers=rec_api.token("ops-1", "ops")
        )
        assert response.status == 404

    async def test_session_without_recording(self, rec_api: Api) -> None:
        """A session that never connected has no recording: 404, problem+json."""
        response = await rec_api.grant("eng-de-1", "T-1001")
        session_id = (await response.json())["session_id"]
        response = await rec_api.client.get(
            f"/v1/sessions/{session_id}/recording", headers=rec_api.token("ops-1", "ops")
        )
        assert response.status == 404
        assert json.loads(await response.text())["code"] == "recording_not_found"

    async def test_copy_in_other_region_not_served(self, rec_api: Api) -> None:
        """A copy in another region's folder is never served for this session."""
        path = await recorded_session(rec_api)
        other = rec_api.state / "regions" / "us-east-1" / "recordings"
        other.mkdir(parents=True)
        path.rename(other / path.name)
        response = await rec_api.client.get(url(path), headers=rec_api.token("ops-1", "ops"))
        assert response.status == 404

    async def test_tampered_header_refused(self, rec_api: Api) -> None:
        """A file whose header names another region is refused with 409."""
        path = await recorded_session(rec_api)
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('"eu-central-1"', '"us-east-1"'), encoding="utf-8")
        response = await rec_api.client.get(url(path), headers=rec_api.token("ops-1", "ops"))
        assert response.status == 409
        assert await response.read() != path.read_bytes()


class TestArchive:
    """The archive only serves the regions its instance serves."""

    async def test_region_not_served(self, rec_api: Api) -> None:
        """An instance that does not serve the session's region refuses to read it."""
        path = await recorded_session(rec_api)
        archive = RecordingArchive(
            rec_api.state, rec_api.store, MemorySink(), frozenset({Region("us-east-1")})
        )
        with pytest.raises(RegionMismatch) as caught:
            await archive.locate(SessionId(path.stem))
        assert caught.value.code == "region_not_served"
