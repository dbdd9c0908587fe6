"""A session's recording over HTTP: the ops download (outside the EEA only, from the
session's region) and the admin's legal-hold copy inside the region."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable
from pathlib import Path

import pytest

from broker.api.recordings import RecordingArchive
from broker.auth.principal import Principal
from broker.cli import main
from broker.errors import ForbiddenError, RegionMismatch
from broker.events import MemorySink
from broker.recording.recorder import RecordingStore
from broker.typing import Region, SessionId
from tests.api.conftest import Api

OSC52 = b"\x1b]52;c;c2VjcmV0\x07"


@pytest.fixture
async def rec_api(api: Api) -> Api:
    """The shared API fixture (the recording route is part of ``create_app``)."""
    return api


async def recorded_session(api: Api, staff: str = "eng-us-1", ticket: str = "T-2001") -> Path:
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
        assert reads[0]["region"] == "us-east-1"
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
        response = await rec_api.grant("eng-us-1", "T-2001")
        session_id = (await response.json())["session_id"]
        response = await rec_api.client.get(
            f"/v1/sessions/{session_id}/recording", headers=rec_api.token("ops-1", "ops")
        )
        assert response.status == 404
        assert json.loads(await response.text())["code"] == "recording_not_found"

    async def test_copy_in_other_region_not_served(self, rec_api: Api) -> None:
        """A copy in another region's folder is never served for this session."""
        path = await recorded_session(rec_api)
        other = rec_api.state / "regions" / "eu-central-1" / "recordings"
        other.mkdir(parents=True)
        path.rename(other / path.name)
        response = await rec_api.client.get(url(path), headers=rec_api.token("ops-1", "ops"))
        assert response.status == 404

    async def test_tampered_header_refused(self, rec_api: Api) -> None:
        """A file whose header names another region is refused with 409."""
        path = await recorded_session(rec_api)
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('"us-east-1"', '"eu-central-1"'), encoding="utf-8")
        response = await rec_api.client.get(url(path), headers=rec_api.token("ops-1", "ops"))
        assert response.status == 409
        assert await response.read() != path.read_bytes()


class TestArchive:
    """The archive only serves the regions its instance serves."""

    async def test_region_not_served(self, rec_api: Api) -> None:
        """An instance that does not serve the session's region refuses to read it."""
        path = await recorded_session(rec_api)
        archive = RecordingArchive(
            rec_api.state,
            rec_api.store,
            MemorySink(),
            frozenset({Region("eu-central-1")}),
            {"us-east-1": False},
        )
        with pytest.raises(RegionMismatch) as caught:
            await archive.locate(SessionId(path.stem))
        assert caught.value.code == "region_not_served"


def eea_recording(api: Api) -> Awaitable[Path]:
    """A recorded session on an EEA ticket (eu-central-1)."""
    return recorded_session(api, "eng-de-1", "T-1001")


class TestInRegionOnly:
    """The raw text of a recording of an EEA region never leaves through the API."""

    async def test_eea_download_refused(self, rec_api: Api) -> None:
        """403 problem+json ``recording_in_region_only`` naming the replay; audited, not read."""
        path = await eea_recording(rec_api)
        response = await rec_api.client.get(url(path), headers=rec_api.token("ops-1", "ops"))
        assert response.status == 403
        assert response.content_type == "application/problem+json"
        problem = json.loads(await response.text())
        assert problem["code"] == "recording_in_region_only"
        assert problem["replay"] == f"/v1/sessions/{path.stem}/replay"
        assert b"customer row" not in await response.read()
        assert rec_api.events.of("recording.read") == []
        refused = rec_api.events.of("recording.read_refused")
        assert [(e["session_id"], e["region"], e["actor"]) for e in refused] == [
            (path.stem, "eu-central-1", "ops-1")
        ]

    async def test_unknown_region_refused(self, rec_api: Api) -> None:
        """A region missing from the policy's table is treated as EEA (fail closed)."""
        path = await recorded_session(rec_api)
        archive = RecordingArchive(
            rec_api.state, rec_api.store, MemorySink(), frozenset({Region("us-east-1")}), {}
        )
        session = await archive.served(SessionId(path.stem))
        with pytest.raises(ForbiddenError) as caught:
            archive.check_text_may_leave(session, Principal("ops-1", "ops", None), "127.0.0.1")
        assert caught.value.code == "recording_in_region_only"

    async def test_openapi_says_so(self, rec_api: Api) -> None:
        """The OpenAPI document states the refusal and the legal-hold body."""
        document = await (await rec_api.client.get("/openapi.json")).json()
        download = document["paths"]["/v1/sessions/{id}/recording"]["get"]
        assert "recording_in_region_only" in download["x-role-limits"]["ops"]
        hold = document["paths"]["/v1/sessions/{id}/recording/legal-hold"]["post"]
        assert hold["x-roles"] == ["admin"]
        assert "LegalHold" in document["components"]["schemas"]


def hold_url(path: Path) -> str:
    """The legal-hold URL of the session a recording belongs to."""
    return f"/v1/sessions/{path.stem}/recording/legal-hold"


class TestLegalHold:
    """The admin's legal-hold copy: in the region's storage, audited, text never answered."""

    @pytest.mark.parametrize("eea", [True, False])
    async def test_copy_in_region(self, rec_api: Api, eea: bool) -> None:
        """The copy lands in the session's region folder; the answer holds no text."""
        path = await (eea_recording(rec_api) if eea else recorded_session(rec_api))
        region = "eu-central-1" if eea else "us-east-1"
        response = await rec_api.client.post(
            hold_url(path), json={"hold": "LH-7"}, headers=rec_api.token("adm-1", "admin")
        )
        assert response.status == 201, await response.text()
        raw = await response.read()
        assert b"customer row" not in raw
        body = json.loads(raw)
        copy = rec_api.state / "regions" / region / body["location"]
        assert copy == rec_api.state / "regions" / region / "legal-hold" / "LH-7" / path.name
        assert copy.read_bytes() == path.read_bytes()
        assert body["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert body["bytes"] == path.stat().st_size
        manifest = json.loads(copy.with_suffix(".json").read_text())
        assert manifest == {
            "session_id": path.stem, "region": region, "bytes": body["bytes"],
            "sha256": body["sha256"],
        }  # fmt: skip
        others = [r for r in ("eu-central-1", "us-east-1") if r != region]
        assert not any((rec_api.state / "regions" / r / "legal-hold").exists() for r in others)
        exported = rec_api.events.of("recording.exported")
        assert [(e["hold"], e["region"], e["actor"], e["sha256"]) for e in exported] == [
            ("LH-7", region, "adm-1", body["sha256"])
        ]

    @pytest.mark.parametrize(("subject", "role"), [("ops-1", "ops"), ("eng-de-1", "engineer")])
    async def test_admin_only(self, rec_api: Api, subject: str, role: str) -> None:
        """Ops and engineers cannot make a hold copy; nothing is written."""
        path = await eea_recording(rec_api)
        response = await rec_api.client.post(
            hold_url(path), json={"hold": "LH-7"}, headers=rec_api.token(subject, role)
        )
        assert response.status == 403
        assert not (rec_api.state / "regions" / "eu-central-1" / "legal-hold").exists()

    @pytest.mark.parametrize(
        ("body", "field"),
        [({}, "hold"), ({"hold": ".."}, "hold"), ({"hold": "a/b"}, "hold"), ({"x": 1}, "x")],
    )
    async def test_bad_input(self, rec_api: Api, body: dict[str, object], field: str) -> None:
        """A missing, unsafe or unknown field is 400 naming it; nothing is written."""
        path = await eea_recording(rec_api)
        response = await rec_api.client.post(
            hold_url(path), json=body, headers=rec_api.token("adm-1", "admin")
        )
        assert response.status == 400
        assert json.loads(await response.text())["field"] == field
        assert not (rec_api.state / "regions" / "eu-central-1" / "legal-hold").exists()

    async def test_never_overwritten(self, rec_api: Api) -> None:
        """A second copy for the same hold is 409; the first stays as it was."""
        path = await eea_recording(rec_api)
        headers = rec_api.token("adm-1", "admin")
        first = await rec_api.client.post(hold_url(path), json={"hold": "LH-7"}, headers=headers)
        assert first.status == 201
        copy = rec_api.state / "regions" / "eu-central-1" / (await first.json())["location"]
        before = copy.read_bytes()
        path.write_bytes(path.read_bytes() + b'[9.0, "o", "later"]\n')
        again = await rec_api.client.post(hold_url(path), json={"hold": "LH-7"}, headers=headers)
        assert again.status == 409
        assert copy.read_bytes() == before
        assert len(rec_api.events.of("recording.exported")) == 1

    async def test_unwritable_storage(self, rec_api: Api) -> None:
        """An unwritable hold folder is 503 (fail closed); nothing is audited as exported."""
        path = await eea_recording(rec_api)
        (rec_api.state / "regions" / "eu-central-1" / "legal-hold").write_text("not a folder")
        response = await rec_api.client.post(
            hold_url(path), json={"hold": "LH-7"}, headers=rec_api.token("adm-1", "admin")
        )
        assert response.status == 503
        assert rec_api.events.of("recording.exported") == []

    async def test_cli_export(self, rec_api: Api, capsys: pytest.CaptureFixture[str]) -> None:
        """``broker recording export`` against the running API prints where, never what."""
        path = await eea_recording(rec_api)
        token = rec_api.authority.mint_token("adm-1", "admin", None)
        base = str(rec_api.client.make_url("/")).rstrip("/")
        argv = ["recording", "export", path.stem, "--hold", "LH-9", "--api", base, "--token", token]
        assert await asyncio.to_thread(main, argv) == 0
        out = capsys.readouterr().out
        assert f"legal-hold/LH-9/{path.name}" in out
        assert hashlib.sha256(path.read_bytes()).hexdigest() in out
        assert "customer row" not in out
        copy = rec_api.state / "regions" / "eu-central-1" / "legal-hold" / "LH-9" / path.name
        assert copy.read_bytes() == path.read_bytes()
