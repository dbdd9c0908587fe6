"""``POST /v1/sessions/{id}/resume`` (the owner only) and ``/watch`` (ops, the org's
admin): fresh single-use viewer links."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from broker.api.app import CONTEXT
from broker.errors import NotFoundError
from broker.service.context import GatewayAddress
from broker.typing import Region
from broker.viewer.tokens import token_digest, watcher_of, well_formed
from tests.api.conftest import Api

EU = Region("eu-central-1")
VIEWER = "http://127.0.0.1:4321"


@pytest.fixture
def viewer(api: Api) -> Api:
    """The EU region runs a viewer at ``VIEWER``."""
    ctx = api.client.server.app[CONTEXT]
    ctx.gateways[EU] = GatewayAddress("127.0.0.1", 2222, None, VIEWER)
    return api


async def _session(api: Api, staff: str = "eng-de-1", *, view: bool = True) -> str:
    response = await api.grant(staff, "T-1001", view=view)
    assert response.status == 201
    return str((await response.json())["session_id"])


class TestResume:
    """Resuming a live session in the browser."""

    async def test_owner_gets_a_fresh_link(self, viewer: Api) -> None:
        """The owner gets the region's viewer URL with a well-formed token in the fragment."""
        sid = await _session(viewer)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/resume", headers=viewer.token("eng-de-1")
        )
        assert response.status == 201
        body = await response.json()
        url = urlsplit(body["viewer_url"])
        assert f"{url.scheme}://{url.netloc}" == VIEWER
        assert url.query == ""
        assert url.fragment.startswith("t=")
        token = url.fragment.removeprefix("t=")
        assert well_formed(token)
        assert body["session_id"] == sid
        assert body["region"] == EU
        claimed = await viewer.store.claim_viewer_token(token_digest(token), EU, viewer.clock.now())
        assert claimed.session_id == sid
        reasons = [e["reason"] for e in viewer.events.of("viewer.link_issued")]
        assert reasons == ["grant", "resume"]
        assert token not in repr(viewer.events.of("viewer.link_issued"))

    async def test_each_resume_is_a_new_token(self, viewer: Api) -> None:
        """Two resumes give two different links; both are single-use."""
        sid = await _session(viewer)
        urls = set()
        for _ in range(2):
            response = await viewer.client.post(
                f"/v1/sessions/{sid}/resume", headers=viewer.token("eng-de-1")
            )
            urls.add((await response.json())["viewer_url"])
        assert len(urls) == 2

    async def test_someone_elses_session_is_refused_and_audited(self, viewer: Api) -> None:
        """Another engineer gets 403 ``staff_forbidden``; the refusal is an audit event."""
        sid = await _session(viewer)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/resume", headers=viewer.token("eng-ie-1")
        )
        assert response.status == 403
        assert (await response.json())["code"] == "staff_forbidden"
        (refused,) = viewer.events.of("viewer.refused")
        assert refused["reason"] == "staff_forbidden"
        assert [e["reason"] for e in viewer.events.of("viewer.link_issued")] == ["grant"]

    async def test_ended_session_is_refused(self, viewer: Api) -> None:
        """A revoked session cannot be resumed: 409 ``session_not_live``."""
        sid = await _session(viewer)
        await viewer.client.delete(f"/v1/sessions/{sid}", headers=viewer.token("ops-1", "ops"))
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/resume", headers=viewer.token("eng-de-1")
        )
        assert response.status == 409
        assert (await response.json())["code"] == "session_not_live"
        assert [e["reason"] for e in viewer.events.of("viewer.refused")] == ["session_not_live"]

    async def test_terminal_session_is_not_resumed(self, viewer: Api) -> None:
        """A terminal session has no viewer: 409 ``not_a_view_session``."""
        sid = await _session(viewer, view=False)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/resume", headers=viewer.token("eng-de-1")
        )
        assert response.status == 409
        assert (await response.json())["code"] == "not_a_view_session"

    async def test_region_without_viewer_fails_closed(self, api: Api) -> None:
        """No viewer known for the session's region: 503, and no link issued."""
        sid = await _session(api)
        api.client.server.app[CONTEXT].gateways[EU] = GatewayAddress("127.0.0.1", 2222)
        api.events.events.clear()
        response = await api.client.post(
            f"/v1/sessions/{sid}/resume", headers=api.token("eng-de-1")
        )
        assert response.status == 503
        assert (await response.json())["code"] == "viewer_unavailable"
        assert api.events.of("viewer.link_issued") == []

    async def test_ops_may_not_resume(self, viewer: Api) -> None:
        """Only engineers hold viewer links: ops get 403."""
        sid = await _session(viewer)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/resume", headers=viewer.token("ops-1", "ops")
        )
        assert response.status == 403


class TestTokenSecrecy:
    """The store holds digests only."""

    async def test_store_cannot_open_with_digest(self, viewer: Api) -> None:
        """Claiming with the digest itself (as if read from the store) finds nothing."""
        sid = await _session(viewer)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/resume", headers=viewer.token("eng-de-1")
        )
        token = urlsplit((await response.json())["viewer_url"]).fragment.removeprefix("t=")
        with pytest.raises(NotFoundError):
            await viewer.store.claim_viewer_token(
                token_digest(token_digest(token)), EU, viewer.clock.now()
            )


class TestWatch:
    """``POST /v1/sessions/{id}/watch``: a read-only link for ops or the org's admin."""

    @pytest.mark.parametrize(
        ("subject", "role", "org"),
        [("ops-1", "ops", None), ("cust-1", "customer_admin", "acme-de")],
    )
    async def test_watcher_gets_a_link_bound_to_them(
        self, viewer: Api, subject: str, role: str, org: str | None
    ) -> None:
        """A single-use token in the fragment, held as ``watch:<id>``; issuing is audited."""
        sid = await _session(viewer)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/watch", headers=viewer.token(subject, role, org)
        )
        assert response.status == 201, await response.text()
        body = await response.json()
        url = urlsplit(body["viewer_url"])
        assert f"{url.scheme}://{url.netloc}" == VIEWER
        token = url.fragment.removeprefix("t=")
        assert well_formed(token)
        claimed = await viewer.store.claim_viewer_token(token_digest(token), EU, viewer.clock.now())
        assert (claimed.session_id, watcher_of(claimed.staff_id)) == (sid, (role, subject))
        issued = viewer.events.of("viewer.link_issued")[-1]
        assert (issued["reason"], issued["actor"]) == ("watch", subject)

    async def test_admin_of_another_org_gets_404(self, viewer: Api) -> None:
        """A customer admin of another org is told the session does not exist; audited."""
        sid = await _session(viewer)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/watch", headers=viewer.token("cust-2", "customer_admin", "bank-de")
        )
        assert response.status == 404
        assert (await response.json())["code"] == "session_not_found"
        refused = viewer.events.of("viewer.refused")
        assert [(e["reason"], e["actor"]) for e in refused] == [("org_forbidden", "cust-2")]
        assert [e["reason"] for e in viewer.events.of("viewer.link_issued")] == ["grant"]

    @pytest.mark.parametrize(("subject", "role"), [("eng-de-1", "engineer"), ("adm-1", "admin")])
    async def test_other_roles_forbidden(self, viewer: Api, subject: str, role: str) -> None:
        """Engineers (even the session's own) and admins cannot watch: 403."""
        sid = await _session(viewer)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/watch", headers=viewer.token(subject, role)
        )
        assert response.status == 403

    async def test_terminal_session_has_nothing_to_watch(self, viewer: Api) -> None:
        """A terminal session has no viewer: 409 ``not_a_view_session``, audited."""
        sid = await _session(viewer, view=False)
        response = await viewer.client.post(
            f"/v1/sessions/{sid}/watch", headers=viewer.token("ops-1", "ops")
        )
        assert response.status == 409
        assert (await response.json())["code"] == "not_a_view_session"
        assert [e["reason"] for e in viewer.events.of("viewer.refused")] == ["not_a_view_session"]
