"""Import, routing, health, metrics and the OpenAPI document."""

from __future__ import annotations

import pytest

from broker.api.app import all_routes
from broker.audit.reader import AuditQuery
from tests.api.conftest import Api

# (role, org, ticket's starting status, requested status, expected HTTP status)
STATUS_RULES = [
    ("ops", None, "open", "closed", 200),
    ("ops", None, "closed", "open", 200),
    ("admin", None, "open", "closed", 200),
    ("admin", None, "closed", "open", 200),
    ("customer_admin", "acme-de", "open", "closed", 200),
    ("customer_admin", "acme-de", "closed", "closed", 200),
    ("customer_admin", "acme-de", "closed", "open", 403),
    ("customer_admin", "acme-de", "open", "open", 403),
    ("customer_admin", "shop-us", "open", "closed", 404),
    ("customer_admin", "shop-us", "closed", "open", 404),
    ("engineer", None, "open", "closed", 403),
    ("engineer", None, "closed", "open", 403),
]


class TestImport:
    """POST /v1/import."""

    async def test_eea_only_outside_eea_is_refused_whole(self, api: Api) -> None:
        """An eea_only org in us-east-1 is refused, and nothing in the document is stored."""
        document = {
            "staff": [{"id": "eng-new", "country": "DE"}],
            "orgs": [{"id": "bad-org", "region": "us-east-1", "tier": "eea_only"}],
        }
        response = await api.client.post(
            "/v1/import", json=document, headers=api.token("root", "admin")
        )
        assert response.status == 400
        assert (await response.json())["field"] == "orgs[0].region"
        assert "eng-new" not in [s.id for s in await api.store.list_staff()]

    @pytest.mark.parametrize(
        ("document", "field"),
        [
            ({"orgs": [{"id": "o", "region": "zz-nowhere-1", "tier": "standard"}]}, "orgs[0]"),
            (
                {
                    "targets": [
                        {"org_id": "acme-de", "name": "t", "region": "zz-nowhere-1", "host": "h"}
                    ]
                },
                "targets[0]",
            ),
        ],
    )
    async def test_unknown_region_is_refused(self, api: Api, document, field) -> None:
        """A region the policy does not know is refused: no org, and no audit folder, for it."""
        response = await api.client.post(
            "/v1/import", json=document, headers=api.token("root", "admin")
        )
        assert response.status == 400
        assert (await response.json())["field"] == f"{field}.region"
        assert not (api.state / "regions" / "zz-nowhere-1").exists()

    async def test_import_counts(self, api: Api) -> None:
        """A valid document is upserted and counted."""
        document = {
            "orgs": [{"id": "new-org", "region": "eu-west-1", "tier": "eea_only"}],
            "tickets": [{"id": "T-7", "org_id": "new-org", "severity": 1}],
        }
        response = await api.client.post(
            "/v1/import", json=document, headers=api.token("root", "admin")
        )
        assert await response.json() == {
            "orgs": 1, "staff": 0, "tickets": 1, "targets": 0, "sessions_revoked": 0,
        }  # fmt: skip

    async def test_import_closing_ticket_revokes_and_audits(self, api: Api) -> None:
        """Closing a ticket by import ends its live sessions, each announced as revoked."""
        sid = (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"]
        document = {
            "tickets": [{"id": "T-1001", "org_id": "acme-de", "severity": 2, "status": "closed"}]
        }
        response = await api.client.post(
            "/v1/import", json=document, headers=api.token("root", "admin")
        )
        assert (await response.json())["sessions_revoked"] == 1
        revoked = api.events.of("session.revoked")
        assert [(e["session_id"], e["reason"]) for e in revoked] == [(sid, "import")]

    async def test_terminal_access_change_is_audited(self, api: Api) -> None:
        """Each change of an org's terminal_access is its own audit event, old and new value."""
        acme = {"id": "acme-de", "region": "eu-central-1", "tier": "standard"}
        admin = api.token("root", "admin")
        await api.client.post("/v1/import", json={"orgs": [acme]}, headers=admin)
        await api.client.post("/v1/import", json={"orgs": [acme]}, headers=admin)  # no change
        on = {**acme, "terminal_access": True}
        await api.client.post("/v1/import", json={"orgs": [on]}, headers=admin)
        changes = api.events.of("org.setting_changed")
        assert [
            (e["region"], e["org_id"], e["key"], e["old_value"], e["new_value"]) for e in changes
        ] == [
            ("eu-central-1", "acme-de", "terminal_access", True, False),
            ("eu-central-1", "acme-de", "terminal_access", False, True),
        ]
        assert (await api.store.get_org("acme-de")).terminal_access is True
        api.auditor.flush()
        trail = api.auditor.query("eu-central-1", AuditQuery(event="org.setting_changed"))
        assert [(r["old_value"], r["new_value"], r["actor"]) for r in trail.records] == [
            (True, False, "root"),
            (False, True, "root"),
        ]

    async def test_require_watch_change_is_audited(self, api: Api) -> None:
        """Switching require_watch on is an org.setting_changed event; off by default."""
        acme = {"id": "acme-de", "region": "eu-central-1", "tier": "standard"}
        admin = api.token("root", "admin")
        assert (await api.store.get_org("acme-de")).require_watch is False
        on = {**acme, "terminal_access": True, "require_watch": True}
        response = await api.client.post("/v1/import", json={"orgs": [on]}, headers=admin)
        assert response.status == 200, await response.text()
        changes = api.events.of("org.setting_changed")
        assert [(e["key"], e["old_value"], e["new_value"]) for e in changes] == [
            ("require_watch", False, True)
        ]
        assert (await api.store.get_org("acme-de")).require_watch is True
        bad = {"orgs": [{**acme, "require_watch": "yes"}]}
        response = await api.client.post("/v1/import", json=bad, headers=admin)
        assert (await response.json())["field"] == "orgs[0].require_watch"

    async def test_terminal_access_must_be_boolean(self, api: Api) -> None:
        """A non-boolean terminal_access names its path; nothing is stored."""
        org = {"id": "acme-de", "region": "eu-central-1", "tier": "standard"}
        document = {"orgs": [{**org, "terminal_access": "yes"}]}
        response = await api.client.post(
            "/v1/import", json=document, headers=api.token("root", "admin")
        )
        assert (await response.json())["field"] == "orgs[0].terminal_access"
        assert (await api.store.get_org("acme-de")).terminal_access is True
        assert api.events.of("org.setting_changed") == []

    async def test_bad_record_names_path(self, api: Api) -> None:
        """A bad severity names its record's path."""
        document = {"tickets": [{"id": "T-8", "org_id": "acme-de", "severity": 9}]}
        response = await api.client.post(
            "/v1/import", json=document, headers=api.token("root", "admin")
        )
        assert (await response.json())["field"] == "tickets[0].severity"


class TestTicketStatus:
    """PATCH /v1/tickets/{id}: who may close, who may reopen."""

    @pytest.mark.parametrize(("role", "org", "start", "wanted", "expected"), STATUS_RULES)
    async def test_status_rules(
        self, api: Api, role: str, org: str | None, start: str, wanted: str, expected: int
    ) -> None:
        """Ops and admins open and close; a customer admin only closes their own org's."""
        subject = {"engineer": "eng-de-1"}.get(role, f"{role.replace('_', '-')}-1")
        ops = api.token("ops-1", "ops")
        await api.client.patch("/v1/tickets/T-1001", json={"status": start}, headers=ops)
        response = await api.client.patch(
            "/v1/tickets/T-1001", json={"status": wanted}, headers=api.token(subject, role, org)
        )
        assert response.status == expected, await response.text()
        after = (await api.store.get_ticket("T-1001")).status  # type: ignore[arg-type]
        assert after == (wanted if expected == 200 else start)

    async def test_reopen_refused_keeps_engineers_out(self, api: Api) -> None:
        """After a customer admin closes a ticket and fails to reopen it, no session is granted."""
        headers = api.token("cust-1", "customer_admin", "acme-de")
        for status in ("closed", "open"):
            await api.client.patch("/v1/tickets/T-1001", json={"status": status}, headers=headers)
        response = await api.grant("eng-de-1", "T-1001")
        assert response.status == 403
        assert "ticket_closed" in (await response.json())["reasons"]

    async def test_openapi_states_the_limit(self, api: Api) -> None:
        """The OpenAPI operation lists customer_admin with its close-only limit."""
        document = await (await api.client.get("/openapi.json")).json()
        operation = document["paths"]["/v1/tickets/{id}"]["patch"]
        assert "customer_admin" in operation["x-roles"]
        assert "closed" in operation["x-role-limits"]["customer_admin"]


class TestRouting:
    """GET /v1/tickets/{id}/routing."""

    async def test_eea_only_routing(self, api: Api) -> None:
        """EEA staff allowed directly; adequacy/SCC/US staff need consent; others absent."""
        response = await api.client.get(
            "/v1/tickets/T-1002/routing", headers=api.token("ops-1", "ops")
        )
        body = await response.json()
        assert set(body["allowed"]["intra-eea"]) == {"eng-de-1", "eng-ie-1", "eng-no-1"}
        assert set(body["needs_consent"]) == {"eng-ch-1", "eng-in-1", "eng-ph-1", "eng-us-1"}
        assert body["support_window"]["open_now"] is True

    async def test_routing_shows_access(self, api: Api) -> None:
        """The routing names the access modes: viewer only on EEA unless the org opted in."""
        ops = api.token("ops-1", "ops")
        found = {}
        for ticket in ("T-1001", "T-1002", "T-1003", "T-2001"):
            response = await api.client.get(f"/v1/tickets/{ticket}/routing", headers=ops)
            found[ticket] = (await response.json())["access"]
        assert found == {
            "T-1001": ["view", "terminal"],  # acme-de: standard with terminal_access
            "T-1002": ["view"],  # bank-de: eea_only
            "T-1003": ["view"],  # eea_only, whatever the scope
            "T-2001": ["view", "terminal"],  # us-east-1: not EEA
        }


class TestOps:
    """Health, metrics, OpenAPI and fail-closed behaviour."""

    async def test_openapi_matches_routes(self, api: Api) -> None:
        """Every served route is documented, and nothing else is (but the web console's
        pages, mounted under /console/: HTML for browsers, docs/console.md)."""
        document = await (await api.client.get("/openapi.json")).json()
        assert document["openapi"].startswith("3.1")
        documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
        served = {
            (r.method, r.resource.canonical)
            for r in api.client.app.router.routes()
            if r.method != "HEAD" and not r.resource.canonical.startswith("/console/")
        }
        assert documented == served == {(r.method, r.path) for r in all_routes()}

    async def test_metrics_count_denials_by_reason(self, api: Api) -> None:
        """A denial shows up in the Prometheus counters under its reason."""
        await api.grant("eng-br-1", "T-1001")
        text = await (await api.client.get("/metrics")).text()
        assert 'broker_sessions_denied_total{reason="country_not_permitted"} 1' in text

    async def test_store_unreachable_is_503_and_grants_nothing(self, api: Api) -> None:
        """With the store gone, health and grants fail closed with 503."""
        await api.store.close()
        assert (await api.client.get("/healthz")).status == 503
        response = await api.grant("eng-de-1", "T-1001")
        assert response.status == 503
        assert not api.events.of("session.issued")
