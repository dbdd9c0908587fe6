"""Consent requests in the console, in-process: the pending list, approve (shorter), deny."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api
from tests.console.conftest import origin, sign_in

HOUR = 3600


async def ask(api: Api, staff: str = "eng-us-1", ticket: str = "T-1001", hours: int = 2) -> str:
    """An engineer's consent request, through the API."""
    body = {"duration_seconds": hours * HOUR, "reason": "customer call +49 170 1234567"}
    answer = await api.client.post(
        f"/v1/tickets/{ticket}/consent-requests", json=body, headers=api.token(staff)
    )
    assert answer.status == 201, await answer.text()
    return str((await answer.json())["consent_request_id"])


class TestPendingList:
    """What the admin sees waiting."""

    async def test_lists_own_org_pending(self, api: Api) -> None:
        """acme-de's admin sees the request on T-1001 (reason pseudonymised), with a link to
        decide; shop-us's admin does not, and gets 404 for its page."""
        request_id = await ask(api)
        await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        page = await (await api.client.get("/console/admin/requests")).text()
        assert f'href="/console/requests/{request_id}"' in page
        assert "2 h" in page
        assert "1234567" not in page
        api.client.session.cookie_jar.clear()
        await sign_in(api, "shop-admin-1", "customer_admin", "shop-us")
        page = await (await api.client.get("/console/admin/requests")).text()
        assert request_id not in page
        assert (await api.client.get(f"/console/requests/{request_id}")).status == 404


class TestDecide:
    """Approve (as asked or shorter) and deny, through the forms."""

    @pytest.mark.parametrize(("chosen", "granted"), [("", 2 * HOUR), (str(HOUR), HOUR)])
    async def test_approve(self, api: Api, chosen: str, granted: int) -> None:
        """Approval makes the consent for the chosen duration; the engineer may now open a
        session; the page says so."""
        request_id = await ask(api)
        csrf = await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        form = await (await api.client.get(f"/console/requests/{request_id}")).text()
        assert '<option value="3600">1 h</option>' in form
        answer = await api.client.post(
            f"/console/requests/{request_id}/approve",
            data={"csrf": csrf, "duration": chosen},
            headers=origin(api),
        )
        assert 'role="status">Approved' in await answer.text()
        [approved] = api.events.of("consent.request_approved")
        assert approved["granted_s"] == granted
        assert (await api.grant("eng-us-1", "T-1001")).status == 201
        consents = await (await api.client.get("/console/admin/consents")).text()
        assert 'href="/console/admin/consents?ticket=T-1001"' in consents

    async def test_longer_than_asked_is_refused(self, api: Api) -> None:
        """A forged form asking for more than the engineer did: 400 naming the field."""
        request_id = await ask(api)
        csrf = await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        answer = await api.client.post(
            f"/console/requests/{request_id}/approve",
            data={"csrf": csrf, "duration": str(3 * HOUR)},
            headers=origin(api),
        )
        assert answer.status == 400
        assert "must not be longer than the engineer asked for" in await answer.text()
        assert not api.events.of("consent.granted")

    async def test_deny_with_reason(self, api: Api) -> None:
        """Denial records the reason; the request page then shows it, without forms."""
        request_id = await ask(api)
        csrf = await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        answer = await api.client.post(
            f"/console/requests/{request_id}/deny",
            data={"csrf": csrf, "reason": "not during the audit week"},
            headers=origin(api),
        )
        assert 'role="status">Denied' in await answer.text()
        page = await (await api.client.get(f"/console/requests/{request_id}")).text()
        assert "not during the audit week" in page
        assert "request.approve" not in page
        assert "/approve" not in page
        assert (await api.grant("eng-us-1", "T-1001")).status == 403

    async def test_other_org_cannot_decide(self, api: Api) -> None:
        """shop-us's admin posting to acme-de's request: 404, nothing decided."""
        request_id = await ask(api)
        csrf = await sign_in(api, "shop-admin-1", "customer_admin", "shop-us")
        for action in ("approve", "deny"):
            answer = await api.client.post(
                f"/console/requests/{request_id}/{action}",
                data={"csrf": csrf, "reason": "x"},
                headers=origin(api),
            )
            assert answer.status == 404
        assert not api.events.of("consent.request_approved")
        assert not api.events.of("consent.request_denied")
