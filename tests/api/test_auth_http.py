"""Authentication and authorisation at the HTTP edge."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, soon


class TestAuthentication:
    """401 for missing, bad and expired tokens; 403 for wrong roles and orgs."""

    async def test_missing_token_is_401(self, api: Api) -> None:
        """No Authorization header: 401 problem, audited as auth.failed."""
        response = await api.client.get("/v1/sessions")
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        assert api.events.of("auth.failed")

    async def test_forged_token_is_401(self, api: Api) -> None:
        """A token with a broken signature is refused."""
        token = api.authority.mint_token("eng-de-1", "engineer")
        response = await api.client.get(
            "/v1/sessions", headers={"Authorization": f"Bearer {token[:-4]}AAAA"}
        )
        assert response.status == 401

    async def test_expired_token_is_401(self, api: Api) -> None:
        """A token past its expiry is refused."""
        headers = api.token("eng-de-1")
        api.clock.advance(24 * 3600)
        response = await api.client.get("/v1/sessions", headers=headers)
        assert response.status == 401

    async def test_cached_token_still_expires(self, api: Api) -> None:
        """A token verified once (and cached) is refused after it expires."""
        headers = api.token("eng-de-1")
        assert (await api.client.get("/v1/sessions", headers=headers)).status == 200
        api.clock.advance(24 * 3600)
        assert (await api.client.get("/v1/sessions", headers=headers)).status == 401

    @pytest.mark.parametrize(("method", "path"), [("POST", "/v1/sessions"), ("POST", "/v1/import")])
    async def test_wrong_role_is_403(self, api: Api, method: str, path: str) -> None:
        """A customer admin cannot request sessions or import data."""
        headers = api.token("cust-1", "customer_admin", "acme-de")
        response = await api.client.request(method, path, json={}, headers=headers)
        assert response.status == 403

    async def test_other_orgs_admin_cannot_consent(self, api: Api) -> None:
        """A customer admin of another org gets 403 on this org's ticket."""
        headers = api.token("cust-2", "customer_admin", "shop-us")
        body = {"staff_id": "eng-us-1", "expires_at": soon(api.clock)}
        response = await api.client.post("/v1/tickets/T-1001/consents", json=body, headers=headers)
        assert response.status == 403
        assert not api.events.of("consent.granted")

    async def test_country_comes_from_staff_record(self, api: Api) -> None:
        """Request fields cannot claim a country: unknown fields are refused outright."""
        body = {"ticket_id": "T-1001", "target": "app-1", "public_key": "k", "country": "DE"}
        response = await api.client.post("/v1/sessions", json=body, headers=api.token("eng-us-1"))
        assert response.status == 400
        assert (await response.json())["field"] == "country"
