"""Authentication and authorisation at the HTTP edge."""

from __future__ import annotations

import pytest

from broker import validate as v
from broker.api.app import AUTH_FAILURES
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
        """A customer admin of another org gets 404 on this org's ticket."""
        headers = api.token("cust-2", "customer_admin", "shop-us")
        body = {"staff_id": "eng-us-1", "expires_at": soon(api.clock)}
        response = await api.client.post("/v1/tickets/T-1001/consents", json=body, headers=headers)
        assert response.status == 404
        assert not api.events.of("consent.granted")

    async def test_country_comes_from_staff_record(self, api: Api) -> None:
        """Request fields cannot claim a country: unknown fields are refused outright."""
        body = {"ticket_id": "T-1001", "target": "app-1", "public_key": "k", "country": "DE"}
        response = await api.client.post("/v1/sessions", json=body, headers=api.token("eng-us-1"))
        assert response.status == 400
        assert (await response.json())["field"] == "country"


class TestIdentifiersAtTheEdge:
    """Token subjects and request ids are identifiers, or refused/replaced."""

    async def test_name_as_subject_is_401_and_not_echoed(self, api: Api) -> None:
        """A validly signed token whose sub is a name: 401, audited without the name."""
        import jwt

        from broker.auth.jwks import DEFAULT_AUDIENCE
        from broker.auth.local import LOCAL_ISSUER, load_signing_key

        now = int(api.clock.now().timestamp())
        claims = {"iss": LOCAL_ISSUER, "aud": DEFAULT_AUDIENCE, "sub": "Anna Müller",
                  "role": "ops", "iat": now, "exp": now + 600}  # fmt: skip
        token = jwt.encode(
            claims,
            load_signing_key(api.state),
            algorithm="EdDSA",
            headers={"kid": api.authority.kid},
        )
        response = await api.client.get(
            "/v1/sessions", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 401
        assert (await response.json())["code"] == "token_subject_invalid"
        assert "Anna" not in await response.text()
        (failed,) = api.events.of("auth.failed")
        assert failed["reason"] == "token_subject_invalid"
        assert "Anna" not in str(failed)

    @pytest.mark.parametrize(
        ("sent", "kept"),
        [("3f0c8a52-1b2c-4d5e-8f90-123456789abc", True), ("ab" * 16, True),
         ("Anna Müller", False), ("anna.mueller@example.com", False), ("req-1", False)],
    )  # fmt: skip
    async def test_request_id_kept_or_replaced(self, api: Api, sent: str, kept: bool) -> None:
        """An X-Request-Id that is not a UUID or hex id is replaced by a fresh UUID."""
        response = await api.client.get("/healthz", headers={"X-Request-Id": sent})
        echoed = response.headers["X-Request-Id"]
        assert (echoed == sent) is kept
        if not kept:
            assert v.request_id(echoed) == echoed


class TestFlood:
    """A flood of unauthenticated requests through the real API."""

    @pytest.mark.parametrize("header", [None, "Bearer not-a-token"])
    async def test_thousand_bad_requests_few_records(self, api: Api, header: str | None) -> None:
        """1,000 bad requests write at most two records, whose counts add up to 1,000."""
        headers = {"Authorization": header} if header else {}
        for _ in range(1000):
            response = await api.client.get("/v1/sessions", headers=headers)
            assert response.status == 401
        assert len(api.events.of("auth.failed")) == 1  # the first, promptly
        api.clock.advance(61)
        api.client.app[AUTH_FAILURES].flush_due()
        records = api.events.of("auth.failed")
        assert len(records) == 2
        assert sum(r["count"] for r in records) == 1000
        assert {r["source_ip"] for r in records} == {"127.0.0.1"}


# Every route a customer admin may call with a ticket or org id: (method, path template).
ORG_ROUTES = [
    ("PATCH", "/v1/tickets/{ticket}", {"status": "closed"}),
    ("GET", "/v1/tickets/{ticket}/routing", None),
    ("GET", "/v1/tickets/{ticket}/consents", None),
    ("POST", "/v1/tickets/{ticket}/consents", "consent"),
    ("DELETE", "/v1/tickets/{ticket}/consents/00000000-0000-4000-8000-000000000000", None),
    ("GET", "/v1/orgs/{org}/tia?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z", None),
]


class TestNoExistenceOracle:
    """Another org's ids and unknown ids answer alike, so probing reveals nothing."""

    @pytest.mark.parametrize(("method", "template", "body"), ORG_ROUTES)
    async def test_other_org_and_unknown_answer_alike(
        self, api: Api, method: str, template: str, body: object
    ) -> None:
        """A customer admin of shop-us gets one 404 body for acme-de's ticket and an unknown one."""
        headers = api.token("cust-2", "customer_admin", "shop-us")
        if body == "consent":
            body = {"staff_id": "eng-us-1", "expires_at": soon(api.clock)}
        answers = []
        for ticket, org in (("T-1001", "acme-de"), ("T-0000", "no-such-org")):
            path = template.format(ticket=ticket, org=org)
            response = await api.client.request(method, path, json=body, headers=headers)
            problem = await response.json()
            answers.append((response.status, problem["code"], problem["detail"]))
        assert answers[0] == answers[1]
        assert answers[0][0] == 404
        assert (await api.store.get_ticket("T-1001")).status == "open"  # type: ignore[arg-type]

    async def test_other_engineers_session_is_unknown(self, api: Api) -> None:
        """An engineer gets one 404 for a colleague's session and for an unknown one."""
        sid = (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"]
        headers = api.token("eng-ie-1")
        answers = []
        for session_id in (sid, "00000000-0000-4000-8000-000000000000"):
            for method in ("GET", "DELETE"):
                response = await api.client.request(
                    method, f"/v1/sessions/{session_id}", headers=headers
                )
                answers.append((response.status, (await response.json())["code"]))
        assert set(answers) == {(404, "session_not_found")}
        ops = api.token("ops-1", "ops")
        shown = await (await api.client.get(f"/v1/sessions/{sid}", headers=ops)).json()
        assert shown["state"] == "issued"

    @pytest.mark.parametrize("path", ["/v1/sessions/{sid}", "/v1/sessions/{sid}/recording"])
    async def test_customer_admin_gets_403_before_any_lookup(self, api: Api, path: str) -> None:
        """A role without access is refused by role, alike for existing and unknown sessions."""
        sid = (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"]
        headers = api.token("cust-1", "customer_admin", "acme-de")
        statuses = set()
        for session_id in (sid, "00000000-0000-4000-8000-000000000000"):
            response = await api.client.get(path.format(sid=session_id), headers=headers)
            statuses.add((response.status, (await response.json())["code"]))
        assert statuses == {(403, "role_forbidden")}
