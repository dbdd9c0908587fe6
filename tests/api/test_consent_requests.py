"""Consent requests over HTTP: ask, list, approve, deny, cancel; problems name fields."""

from __future__ import annotations

from typing import Any

import pytest

from broker.store.base import ConsentRequestQuery
from broker.typing import ConsentRequestId, TicketId
from tests.api.conftest import Api
from tests.api.test_audited_writes import refuse

ACME = ("cust-1", "customer_admin", "acme-de")
BANK = ("cust-2", "customer_admin", "bank-de")
REASON = "Export fails for jane.doe@example.com, see +49 30 901820"


async def _ask(api: Api, staff: str = "eng-us-1", ticket: str = "T-1001", **body: Any) -> Any:
    payload = {"duration_seconds": 7200, "reason": REASON, **body}
    return await api.client.post(
        f"/v1/tickets/{ticket}/consent-requests", json=payload, headers=api.token(staff)
    )


async def _asked(api: Api) -> str:
    response = await _ask(api)
    assert response.status == 201, await response.text()
    return str((await response.json())["consent_request_id"])


class TestAsk:
    """``POST /v1/tickets/{id}/consent-requests``."""

    async def test_created_with_pseudonymised_reason(self, api: Api) -> None:
        """201 with the request; its reason shows pseudonyms, never the raw email or phone."""
        response = await _ask(api)
        assert response.status == 201
        body = await response.json()
        assert (body["state"], body["ticket_id"], body["staff_country"]) == (
            "pending",
            "T-1001",
            "US",
        )
        assert body["console_path"] == f"/console/requests/{body['consent_request_id']}"
        assert "jane.doe@example.com" not in body["reason"]
        assert "901820" not in body["reason"]
        assert [e["consent_request_id"] for e in api.events.of("consent.requested")] == [
            body["consent_request_id"]
        ]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            pytest.param({"duration_seconds": "2h"}, "duration_seconds", id="duration-text"),
            pytest.param({"duration_seconds": 30}, "duration_seconds", id="duration-short"),
            pytest.param({"reason": " "}, "reason", id="blank-reason"),
            pytest.param({"reason": "a" * 501}, "reason", id="long-reason"),
            pytest.param({"extra": 1}, "extra", id="unknown-field"),
        ],
    )
    async def test_bad_body_names_its_field(
        self, api: Api, body: dict[str, Any], field: str
    ) -> None:
        """400 problem+json with ``field``; nothing stored."""
        response = await _ask(api, **body)
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        assert (await response.json())["field"] == field
        assert api.events.of("consent.requested") == []

    @pytest.mark.parametrize(
        ("staff", "ticket", "code"),
        [
            pytest.param("eng-de-1", "T-1001", "consent_not_needed", id="not-needed"),
            pytest.param("eng-br-1", "T-1001", "consent_cannot_allow", id="cannot-allow"),
        ],
    )
    async def test_refused_where_consent_is_not_the_answer(
        self, api: Api, staff: str, ticket: str, code: str
    ) -> None:
        """409 with a code saying why."""
        response = await _ask(api, staff, ticket)
        assert response.status == 409
        assert (await response.json())["code"] == code

    async def test_admins_cannot_ask(self, api: Api) -> None:
        """A customer admin's token is refused (403)."""
        response = await api.client.post(
            "/v1/tickets/T-1001/consent-requests",
            json={"duration_seconds": 3600, "reason": "x"},
            headers=api.token(*ACME),
        )
        assert response.status == 403


class TestDecide:
    """Approve, deny and cancel; an approval lets the engineer open the session."""

    async def test_approval_opens_the_door(self, api: Api) -> None:
        """Denied, asked, approved (shortened): the grant is allowed on the basis of consent."""
        assert (await api.grant("eng-us-1", "T-1001")).status == 403
        request_id = await _asked(api)
        response = await api.client.post(
            f"/v1/consent-requests/{request_id}/approve",
            json={"duration_seconds": 3600},
            headers=api.token(*ACME),
        )
        assert response.status == 200, await response.text()
        body = await response.json()
        assert (body["state"], body["granted_seconds"], body["decided_by"]) == (
            "approved",
            3600,
            "cust-1",
        )
        granted = await api.grant("eng-us-1", "T-1001")
        assert granted.status == 201
        session = await granted.json()
        assert (session["basis"], session["consent_id"]) == ("consent", body["consent_id"])

    async def test_longer_approval_refused(self, api: Api) -> None:
        """An approval may not lengthen what was asked: 400 naming duration_seconds."""
        request_id = await _asked(api)
        response = await api.client.post(
            f"/v1/consent-requests/{request_id}/approve",
            json={"duration_seconds": 7201},
            headers=api.token(*ACME),
        )
        assert response.status == 400
        assert (await response.json())["field"] == "duration_seconds"

    async def test_other_org_sees_nothing(self, api: Api) -> None:
        """Another org's admin gets 404 on show, approve and deny, and an empty list."""
        request_id = await _asked(api)
        headers = api.token(*BANK)
        show = await api.client.get(f"/v1/consent-requests/{request_id}", headers=headers)
        assert show.status == 404
        for action, body in (("approve", {}), ("deny", {"reason": "no"})):
            response = await api.client.post(
                f"/v1/consent-requests/{request_id}/{action}", json=body, headers=headers
            )
            assert response.status == 404
        listing = await api.client.get("/v1/consent-requests", headers=headers)
        assert (await listing.json())["items"] == []

    async def test_denial_then_listing_by_state(self, api: Api) -> None:
        """A denied request lists under state=denied for the engineer, with its reason."""
        request_id = await _asked(api)
        response = await api.client.post(
            f"/v1/consent-requests/{request_id}/deny",
            json={"reason": "Please route to the EEA team"},
            headers=api.token(*ACME),
        )
        assert response.status == 200
        listing = await api.client.get(
            "/v1/consent-requests",
            params={"state": "denied", "ticket_id": "T-1001"},
            headers=api.token("eng-us-1"),
        )
        (item,) = (await listing.json())["items"]
        assert (item["consent_request_id"], item["deny_reason"]) == (
            request_id,
            "Please route to the EEA team",
        )
        again = await api.client.post(
            f"/v1/consent-requests/{request_id}/approve", json={}, headers=api.token(*ACME)
        )
        assert again.status == 409
        assert (await again.json())["code"] == "consent_request_decided"

    async def test_cancel(self, api: Api) -> None:
        """The engineer withdraws their pending request."""
        request_id = await _asked(api)
        response = await api.client.post(
            f"/v1/consent-requests/{request_id}/cancel", headers=api.token("eng-us-1")
        )
        assert response.status == 200
        assert (await response.json())["state"] == "cancelled"

    async def test_bad_state_filter(self, api: Api) -> None:
        """An unknown state is a 400 naming ``state``."""
        response = await api.client.get(
            "/v1/consent-requests", params={"state": "live"}, headers=api.token("ops-1", "ops")
        )
        assert response.status == 400
        assert (await response.json())["field"] == "state"


class TestAuditRefused:
    """With its audit event refused, a step answers 503 and writes nothing."""

    async def test_request(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        """No request is stored when ``consent.requested`` cannot be recorded."""
        refuse(api, monkeypatch, "consent.requested")
        assert (await _ask(api)).status == 503
        assert (await api.store.list_consent_requests(ConsentRequestQuery())).items == []

    async def test_approval(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        """The request stays pending, with no consent, when the approval cannot be recorded."""
        request_id = await _asked(api)
        refuse(api, monkeypatch, "consent.request_approved")
        response = await api.client.post(
            f"/v1/consent-requests/{request_id}/approve", json={}, headers=api.token(*ACME)
        )
        assert response.status == 503
        stored = await api.store.get_consent_request(ConsentRequestId(request_id))
        assert stored.state == "pending"
        assert await api.store.list_consents(TicketId("T-1001")) == []


class TestTia:
    """The customer's TIA shows every request and how it ended."""

    async def test_request_and_approval_in_tia(self, api: Api) -> None:
        """Asked and approved: one row, outcome approved, naming the consent; no reason text."""
        request_id = await _asked(api)
        approved = await api.client.post(
            f"/v1/consent-requests/{request_id}/approve", json={}, headers=api.token(*ACME)
        )
        consent_id = (await approved.json())["consent_id"]
        period = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z"
        response = await api.client.get(f"/v1/orgs/acme-de/tia?{period}", headers=api.token(*ACME))
        tia = await response.json()
        (row,) = tia["consent_requests"]
        assert (row["consent_request_id"], row["outcome"], row["consent_id"]) == (
            request_id,
            "approved",
            consent_id,
        )
        assert "901820" not in await response.text()
