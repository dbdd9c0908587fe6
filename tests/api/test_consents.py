"""Consents and the side effects that end sessions."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, soon


async def _consent(
    api: Api, staff: str = "eng-us-1", ticket: str = "T-1001", org: str = "acme-de"
) -> str:
    headers = api.token("cust-1", "customer_admin", org)
    body = {"staff_id": staff, "expires_at": soon(api.clock)}
    response = await api.client.post(f"/v1/tickets/{ticket}/consents", json=body, headers=headers)
    assert response.status == 201, await response.text()
    return str((await response.json())["consent_id"])


class TestConsents:
    """Grant, list and revoke."""

    async def test_naive_expiry_is_refused(self, api: Api) -> None:
        """expires_at without an offset is a 400 naming the field."""
        headers = api.token("cust-1", "customer_admin", "acme-de")
        body = {"staff_id": "eng-us-1", "expires_at": "2026-11-25T12:00:00"}
        response = await api.client.post("/v1/tickets/T-1001/consents", json=body, headers=headers)
        assert response.status == 400
        assert (await response.json())["field"] == "expires_at"

    async def test_list_shows_granted_consent(self, api: Api) -> None:
        """The ticket's consents are listed for its admin."""
        consent_id = await _consent(api)
        response = await api.client.get(
            "/v1/tickets/T-1001/consents", headers=api.token("cust-1", "customer_admin", "acme-de")
        )
        assert [c["consent_id"] for c in (await response.json())["items"]] == [consent_id]

    async def test_revoking_consent_revokes_its_sessions(self, api: Api) -> None:
        """A consent's live sessions end with it; other sessions stay."""
        consent_id = await _consent(api)
        consented = (await (await api.grant("eng-us-1", "T-1001")).json())["session_id"]
        other = (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"]
        headers = api.token("cust-1", "customer_admin", "acme-de")
        response = await api.client.delete(
            f"/v1/tickets/T-1001/consents/{consent_id}", headers=headers
        )
        assert response.status == 200
        ops = api.token("ops-1", "ops")
        assert (await (await api.client.get(f"/v1/sessions/{consented}", headers=ops)).json())[
            "state"
        ] == "revoked"
        assert (await (await api.client.get(f"/v1/sessions/{other}", headers=ops)).json())[
            "state"
        ] == "issued"
        assert [e["session_id"] for e in api.events.of("session.revoked")] == [consented]
        denied = await api.grant("eng-us-1", "T-1001")
        assert denied.status == 403


class TestEeaOnlyWaiver:
    """An eea_only org's consent for staff outside the EEA must waive EEA-only support."""

    async def _post(self, api: Api, staff: str, ticket: str, **extra: object) -> object:
        headers = api.token("cust-2", "customer_admin", "bank-de")
        body = {"staff_id": staff, "expires_at": soon(api.clock), **extra}
        return await api.client.post(f"/v1/tickets/{ticket}/consents", json=body, headers=headers)

    async def test_without_waiver_is_refused(self, api: Api) -> None:
        """No waives_eea_only: 400 naming the field; nothing stored, nothing audited."""
        response = await self._post(api, "eng-us-1", "T-1002")
        assert response.status == 400
        problem = await response.json()
        assert (problem["field"], problem["code"]) == (
            "waives_eea_only",
            "eea_only_waiver_required",
        )
        assert "waive" in problem["detail"]
        assert await api.store.list_consents("T-1002") == []
        assert api.events.of("consent.granted") == []

    async def test_false_waiver_is_refused(self, api: Api) -> None:
        """waives_eea_only false is the same as absent."""
        response = await self._post(api, "eng-ch-1", "T-1002", waives_eea_only=False)
        assert (await response.json())["field"] == "waives_eea_only"

    async def test_waiver_is_stored_audited_and_admits(self, api: Api) -> None:
        """With the waiver: stored, audited with it, and the engineer gets a view session."""
        response = await self._post(api, "eng-us-1", "T-1002", waives_eea_only=True)
        assert response.status == 201, await response.text()
        assert (await response.json())["waives_eea_only"] is True
        (stored,) = await api.store.list_consents("T-1002")
        assert stored.waives_eea_only is True
        assert api.events.of("consent.granted")[-1]["waives_eea_only"] is True
        session = await (await api.grant("eng-us-1", "T-1002", view=True)).json()
        assert (session["basis"], session["access"]) == ("consent", "view")

    @pytest.mark.parametrize(
        ("staff", "ticket"),
        [("eng-de-1", "T-1002"), ("eng-us-1", "T-1003")],  # EEA staff; a non-product scope
    )
    async def test_no_waiver_needed(self, api: Api, staff: str, ticket: str) -> None:
        """EEA staff, or a scope outside EEA-only support, need no waiver."""
        response = await self._post(api, staff, ticket)
        assert response.status == 201, await response.text()
        assert (await response.json())["waives_eea_only"] is False

    async def test_non_boolean_waiver_names_field(self, api: Api) -> None:
        """A waiver that is not a JSON boolean is a 400 naming the field."""
        response = await self._post(api, "eng-us-1", "T-1002", waives_eea_only="yes")
        assert (await response.json())["field"] == "waives_eea_only"


class TestSideEffects:
    """Closing tickets and deactivating staff end live sessions."""

    async def test_closing_ticket_revokes_sessions(self, api: Api) -> None:
        """PATCH status=closed revokes the ticket's live sessions."""
        sid = (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"]
        response = await api.client.patch(
            "/v1/tickets/T-1001", json={"status": "closed"}, headers=api.token("ops-1", "ops")
        )
        assert (await response.json())["status"] == "closed"
        assert api.events.of("session.revoked")[-1]["session_id"] == sid

    async def test_deactivating_staff_revokes_sessions(self, api: Api) -> None:
        """PATCH active=false revokes the staff member's live sessions."""
        sid = (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"]
        response = await api.client.patch(
            "/v1/staff/eng-de-1", json={"active": False}, headers=api.token("root", "admin")
        )
        assert (await response.json())["active"] is False
        assert api.events.of("session.revoked")[-1]["reason"] == "staff_deactivated"
        assert api.events.of("session.revoked")[-1]["session_id"] == sid
