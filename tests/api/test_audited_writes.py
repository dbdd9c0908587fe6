"""A write and its audit record succeed or fail together, on every write path.

The audit trail is made to refuse one event type (as a failed disk or a dead
main process would): the request fails with 503 and the store is unchanged.
An event whose content cannot be recorded fails the write before it happens.
"""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest

from broker.api import consents
from broker.errors import InputError, UnavailableError
from broker.store.base import SessionQuery
from broker.typing import OrgId, SessionId, StaffId, TicketId
from tests.api.conftest import Api, soon
from tests.api.test_consents import _consent


def refuse(api: Api, monkeypatch: pytest.MonkeyPatch, refused: str) -> None:
    """Make the audit trail refuse ``refused`` events, in ``check`` and in ``emit``."""
    auditor = api.auditor
    real_check, real_emit = auditor.check, auditor.emit

    def check(event: str, /, **fields: object) -> None:
        if event == refused:
            raise UnavailableError("audit_unavailable", "audit trail refused the event")
        real_check(event, **fields)

    def emit(event: str, /, **fields: object) -> object:
        check(event, **fields)
        return real_emit(event, **fields)

    monkeypatch.setattr(auditor, "check", check)
    monkeypatch.setattr(auditor, "emit", emit)


async def _sessions(api: Api, ticket: str = "T-1001") -> list[str]:
    page = await api.store.list_sessions(SessionQuery(ticket_id=TicketId(ticket)))
    return [f"{s.id}:{s.state}" for s in page.items]


class TestAuditRefused:
    """Each write path, with its audit event refused: 503 and nothing written."""

    async def test_session_grant(self, api: Api, monkeypatch) -> None:
        """No session row when ``session.issued`` cannot be recorded."""
        refuse(api, monkeypatch, "session.issued")
        response = await api.grant("eng-de-1", "T-1001")
        assert response.status == 503
        assert await _sessions(api) == []

    async def test_session_revoke(self, api: Api, monkeypatch) -> None:
        """The session stays as it was when ``session.revoked`` cannot be recorded."""
        session_id = (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"]
        refuse(api, monkeypatch, "session.revoked")
        response = await api.client.delete(
            f"/v1/sessions/{session_id}", headers=api.token("ops-1", "ops")
        )
        assert response.status == 503
        assert (await api.store.get_session(SessionId(session_id))).state == "issued"

    async def test_consent_grant(self, api: Api, monkeypatch) -> None:
        """No consent row when ``consent.granted`` cannot be recorded."""
        refuse(api, monkeypatch, "consent.granted")
        headers = api.token("cust-1", "customer_admin", "acme-de")
        body = {"staff_id": "eng-us-1", "expires_at": soon(api.clock)}
        response = await api.client.post("/v1/tickets/T-1001/consents", json=body, headers=headers)
        assert response.status == 503
        assert await api.store.list_consents(TicketId("T-1001")) == []

    async def test_consent_revoke(self, api: Api, monkeypatch) -> None:
        """The consent stays live when ``consent.revoked`` cannot be recorded."""
        consent_id = await _consent(api)
        refuse(api, monkeypatch, "consent.revoked")
        response = await api.client.delete(
            f"/v1/tickets/T-1001/consents/{consent_id}",
            headers=api.token("cust-1", "customer_admin", "acme-de"),
        )
        assert response.status == 503
        [consent] = await api.store.list_consents(TicketId("T-1001"))
        assert consent.revoked_at is None

    async def test_ticket_close(self, api: Api, monkeypatch) -> None:
        """The ticket stays open (and its session live) when revocations cannot be recorded."""
        await api.grant("eng-de-1", "T-1001")
        before = await _sessions(api)
        refuse(api, monkeypatch, "session.revoked")
        response = await api.client.patch(
            "/v1/tickets/T-1001", json={"status": "closed"}, headers=api.token("ops-1", "ops")
        )
        assert response.status == 503
        assert (await api.store.get_ticket(TicketId("T-1001"))).status == "open"
        assert await _sessions(api) == before

    async def test_staff_deactivate(self, api: Api, monkeypatch) -> None:
        """The engineer stays active when revocations cannot be recorded."""
        refuse(api, monkeypatch, "session.revoked")
        response = await api.client.patch(
            "/v1/staff/eng-de-1", json={"active": False}, headers=api.token("root", "admin")
        )
        assert response.status == 503
        assert (await api.store.get_staff(StaffId("eng-de-1"))).active

    async def test_import(self, api: Api, monkeypatch) -> None:
        """No org is imported when ``import.applied`` cannot be recorded."""
        refuse(api, monkeypatch, "import.applied")
        body = {"orgs": [{"id": "new-org", "region": "eu-central-1", "tier": "standard"}]}
        response = await api.client.post(
            "/v1/import", json=body, headers=api.token("root", "admin")
        )
        assert response.status == 503
        with pytest.raises(Exception, match="org"):
            await api.store.get_org(OrgId("new-org"))


class TestUnrecordable:
    """An event whose content the trail cannot hold fails its write before the write."""

    async def test_consent_expiring_past_utc_range(self, api: Api) -> None:
        """The 500-forever consent of issue 20, handed to the service directly: refused,
        not stored, and the ticket's reads keep working."""
        service = api.client.app[consents.SERVICE]
        principal = api.authority.verify_token(
            api.authority.mint_token("cust-1", "customer_admin", "acme-de")
        )
        far = api.clock.now().replace(year=9999, month=12, day=31)
        expires = far.replace(tzinfo=timezone(-timedelta(hours=23, minutes=59)))
        with pytest.raises(InputError):
            await service.grant(principal, TicketId("T-1001"), StaffId("eng-us-1"), expires)
        assert await api.store.list_consents(TicketId("T-1001")) == []
        listed = await api.client.get(
            "/v1/tickets/T-1001/consents", headers=api.token("ops-1", "ops")
        )
        assert listed.status == 200
