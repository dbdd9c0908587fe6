"""``/v1/sessions`` end to end over HTTP: grant, deny, list, revoke."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from broker.ca import describe_certificate
from broker.models import Consent, Staff
from broker.store.base import ImportBundle, SessionQuery
from broker.store.sqlite.store import SqliteStore
from broker.typing import ConsentId, CountryCode, OrgId, StaffId, Subject, TicketId
from tests.api.conftest import Api, soon


class TestGrant:
    """POST /v1/sessions."""

    async def test_grant_returns_certificate_for_region(self, api: Api) -> None:
        """An EEA engineer on an EEA ticket gets a 15-minute certificate for the org's region."""
        response = await api.grant("eng-de-1", "T-1001")
        assert response.status == 201
        body = await response.json()
        assert body["region"] == "eu-central-1"
        assert body["basis"] == "intra-eea"
        assert body["username"] == body["session_id"]
        assert body["gateway"] == {"host": "127.0.0.1", "port": 2222, "host_key": None}
        cert = describe_certificate(body["certificate"])
        assert cert["principals"] == [body["session_id"]]
        stored = await api.store.get_session(body["session_id"])
        assert cert["serial"] == stored.cert_serial  # the gateway checks the two match
        lifetime = datetime.fromisoformat(body["valid_before"]) - api.clock.now()
        assert lifetime.total_seconds() == 900
        assert [e["event"] for e in api.events.events][-2:] == [
            "session.requested",
            "session.issued",
        ]

    @pytest.mark.parametrize(
        ("staff", "ticket", "basis", "view"),
        [
            # bank-de is eea_only: its EEA tickets are worked in the viewer only
            ("eng-no-1", "T-1002", "intra-eea", True),  # Norway is EEA, eea_only product ticket
            ("eng-in-1", "T-1003", "scc", True),  # CAS scope is excluded from eea_only
            ("eng-ch-1", "T-1001", "adequacy", False),
            ("eng-br-1", "T-2001", "not-eea", False),  # us-east-1 ticket
            ("eng-br-1", "T-3001", "not-eea", False),  # London is not EEA
        ],
    )
    async def test_allowed_bases(
        self, api: Api, staff: str, ticket: str, basis: str, view: bool
    ) -> None:
        """Each legal basis the policy allows on is recorded on the session."""
        response = await api.grant(staff, ticket, view=view)
        assert response.status == 201, await response.text()
        assert (await response.json())["basis"] == basis

    @pytest.mark.parametrize(
        ("staff", "ticket", "reason"),
        [
            ("eng-us-1", "T-1001", "consent_required"),
            ("eng-in-1", "T-1002", "consent_required"),
            ("eng-br-1", "T-1001", "country_not_permitted"),
            ("eng-de-1", "T-9999", "ticket_closed"),
            ("eng-fr-9", "T-1001", "staff_inactive"),
        ],
    )
    async def test_denials_carry_policy_reasons(
        self, api: Api, staff: str, ticket: str, reason: str
    ) -> None:
        """A denial is a 403 problem with the policy's reason codes, and is audited."""
        response = await api.grant(staff, ticket)
        assert response.status == 403
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert reason in problem["reasons"]
        assert problem["detail"]
        assert api.events.of("session.denied")[-1]["reasons"] == problem["reasons"]
        assert not api.events.of("session.issued")

    async def test_ttl_is_capped_by_policy_maximum(self, api: Api) -> None:
        """A TTL above the configured maximum is cut to it (3600 s)."""
        response = await api.grant("eng-de-1", "T-1001", ttl_seconds=7200)
        body = await response.json()
        lifetime = datetime.fromisoformat(body["valid_before"]) - api.clock.now()
        assert lifetime.total_seconds() == 3600

    async def test_consent_allows_and_caps_lifetime(self, api: Api) -> None:
        """US staff get in with consent, and never past the consent's expiry."""
        admin = api.token("admin-bank", "customer_admin", "acme-de")
        consent = await api.client.post(
            "/v1/tickets/T-1001/consents",
            json={"staff_id": "eng-us-1", "expires_at": soon(api.clock, 10)},
            headers=admin,
        )
        assert consent.status == 201
        response = await api.grant("eng-us-1", "T-1001", ttl_seconds=1800)
        body = await response.json()
        assert body["basis"] == "consent"
        assert body["consent_id"] == (await consent.json())["consent_id"]
        lifetime = datetime.fromisoformat(body["valid_before"]) - api.clock.now()
        assert lifetime.total_seconds() == 600

    async def test_target_of_other_org_is_not_found(self, api: Api) -> None:
        """A target name resolves only within the ticket's own org."""
        response = await api.grant("eng-de-1", "T-1001", target="no-such-host")
        assert response.status == 404

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"ticket_id": "T-1001", "target": "app-1", "public_key": "nope"}, "public_key"),
            ({"ticket_id": "T-1001", "target": "app-1", "public_key": 7}, "public_key"),
            ({"ticket_id": "T-1001", "target": "app-1", "public_key": "x", "color": 1}, "color"),
            ({"ticket_id": 7, "target": "app-1", "public_key": "x"}, "ticket_id"),
        ],
    )
    async def test_bad_input_names_the_field(
        self, api: Api, body: dict[str, object], field: str
    ) -> None:
        """Malformed requests get 400 naming the field, and nothing is written."""
        response = await api.client.post("/v1/sessions", json=body, headers=api.token("eng-de-1"))
        assert response.status == 400
        assert (await response.json())["field"] == field
        assert not api.events.of("session.issued")

    async def test_bad_source_address_names_field(self, api: Api) -> None:
        """An invalid source address is refused before any session is stored."""
        response = await api.grant("eng-de-1", "T-1001", source_address="not-an-ip")
        assert response.status == 400
        assert (await response.json())["field"] == "source_address"
        listed = await api.client.get("/v1/sessions", headers=api.token("ops-1", "ops"))
        assert (await listed.json())["items"] == []

    async def test_oversized_body_is_413(self, api: Api) -> None:
        """Bodies over 64 KiB are refused."""
        body = {"ticket_id": "T-1001", "target": "app-1", "public_key": "x" * 70_000}
        response = await api.client.post("/v1/sessions", json=body, headers=api.token("eng-de-1"))
        assert response.status == 413
        assert response.content_type == "application/problem+json"


class TestAccessModes:
    """A public key asks for a terminal; none asks for the viewer (``access``)."""

    async def test_view_session_has_no_certificate(self, api: Api) -> None:
        """Without public_key: a view session, stored as such, with no certificate or serial."""
        response = await api.grant("eng-de-1", "T-1001", view=True)
        assert response.status == 201, await response.text()
        body = await response.json()
        assert (body["access"], body["certificate"], body["ssh_command"]) == ("view", None, None)
        stored = await api.store.get_session(body["session_id"])
        assert (stored.access, stored.cert_serial) == ("view", None)
        issued = api.events.of("session.issued")[-1]
        assert (issued["access"], issued["cert_serial"]) == ("view", None)

    async def test_terminal_where_allowed(self, api: Api) -> None:
        """With public_key on a ticket that allows terminals: access terminal and a certificate."""
        body = await (await api.grant("eng-de-1", "T-1001")).json()
        assert body["access"] == "terminal"
        assert body["certificate"].startswith("ssh-ed25519-cert-v01@openssh.com ")
        assert (await api.store.get_session(body["session_id"])).access == "terminal"
        assert api.events.of("session.issued")[-1]["access"] == "terminal"

    @pytest.mark.parametrize(
        ("staff", "ticket"),
        [("eng-no-1", "T-1002"), ("eng-in-1", "T-1003")],  # bank-de: eea_only, any scope
    )
    async def test_terminal_on_view_only_ticket_is_refused(
        self, api: Api, staff: str, ticket: str
    ) -> None:
        """A terminal asked for where only the viewer is allowed: 403, audited, nothing stored."""
        response = await api.grant(staff, ticket)
        assert response.status == 403
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["reasons"] == ["terminal_not_allowed"]
        assert "viewer" in problem["detail"]
        denied = api.events.of("session.denied")[-1]
        assert (denied["ticket_id"], denied["reasons"]) == (ticket, ["terminal_not_allowed"])
        assert api.events.of("session.issued") == []
        assert (await api.store.list_sessions(SessionQuery())).items == []
        view = await api.grant(staff, ticket, view=True)
        assert (await view.json())["access"] == "view"

    async def test_view_only_standard_org(self, api: Api) -> None:
        """A standard org without terminal_access gets the viewer only on its EEA tickets."""
        off = {"orgs": [{"id": "acme-de", "region": "eu-central-1", "tier": "standard"}]}
        await api.client.post("/v1/import", json=off, headers=api.token("root", "admin"))
        refused = await api.grant("eng-de-1", "T-1001")
        assert (await refused.json())["reasons"] == ["terminal_not_allowed"]
        assert (await api.grant("eng-de-1", "T-1001", view=True)).status == 201


class TestReadAndRevoke:
    """GET and DELETE on sessions."""

    async def test_list_filters_and_paginates(self, api: Api) -> None:
        """Listing by ticket pages through every session exactly once."""
        ids = {
            (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"] for _ in range(5)
        }
        seen: list[str] = []
        url = "/v1/sessions?ticket_id=T-1001&limit=2"
        while url:
            page = await (await api.client.get(url, headers=api.token("ops-1", "ops"))).json()
            seen += [s["session_id"] for s in page["items"]]
            url = (
                f"/v1/sessions?ticket_id=T-1001&limit=2&cursor={page['next_cursor']}"
                if page["next_cursor"]
                else ""
            )
        assert sorted(seen) == sorted(ids)

    async def test_engineer_sees_only_own_sessions(self, api: Api) -> None:
        """Another engineer's session reads as unknown."""
        body = await (await api.grant("eng-de-1", "T-1001")).json()
        response = await api.client.get(
            f"/v1/sessions/{body['session_id']}", headers=api.token("eng-ie-1")
        )
        assert response.status == 404

    async def test_unused_session_reads_expired_after_its_end(self, api: Api) -> None:
        """Never connected and past valid_before: expired in reads, filters and revocation."""
        body = await (await api.grant("eng-de-1", "T-1001")).json()
        sid, ops = body["session_id"], api.token("ops-1", "ops")
        assert (await (await api.client.get(f"/v1/sessions/{sid}", headers=ops)).json())[
            "state"
        ] == "issued"
        api.clock.advance(24 * 3600)
        ops = api.token("ops-1", "ops")
        shown = await (await api.client.get(f"/v1/sessions/{sid}", headers=ops)).json()
        assert (shown["state"], shown["end_reason"]) == ("expired", "expired_unused")
        assert shown["ended_at"] == body["valid_before"]
        listed = await (await api.client.get("/v1/sessions?state=issued", headers=ops)).json()
        assert sid not in [s["session_id"] for s in listed["items"]]
        listed = await (await api.client.get("/v1/sessions?state=expired", headers=ops)).json()
        assert sid in [s["session_id"] for s in listed["items"]]
        answer = await api.client.delete(f"/v1/sessions/{sid}", headers=ops)
        assert answer.status == 409

    async def test_revoke_once_then_conflict(self, api: Api) -> None:
        """Revoking twice leaves one answer: the second call is a 409."""
        sid = (await (await api.grant("eng-de-1", "T-1001")).json())["session_id"]
        first = await api.client.delete(f"/v1/sessions/{sid}", headers=api.token("ops-1", "ops"))
        assert (await first.json())["state"] == "revoked"
        second = await api.client.delete(f"/v1/sessions/{sid}", headers=api.token("ops-1", "ops"))
        assert second.status == 409
        assert len(api.events.of("session.revoked")) == 1

    async def test_unknown_session_is_404(self, api: Api) -> None:
        """Unknown ids are 404 problems."""
        response = await api.client.get("/v1/sessions/nope", headers=api.token("ops-1", "ops"))
        assert response.status == 404
        assert response.content_type == "application/problem+json"


class TestGrantRace:
    """Records that change between the grant's read and its insert."""

    def race(self, api: Api, monkeypatch: pytest.MonkeyPatch, change: Any, times: int) -> list[Any]:
        """Apply ``change`` right before each of the first ``times`` inserts; log revisions."""
        real = api.store.create_session
        revisions: list[Any] = []

        async def racing(session: Any, *, world_revision: int | None = None) -> Any:
            if len(revisions) < times:
                await change()
            revisions.append(world_revision)
            return await real(session, world_revision=world_revision)

        monkeypatch.setattr(api.store, "create_session", racing)
        return revisions

    async def test_decided_again_on_the_new_records(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The engineer moved to the US meanwhile: the grant is decided again, and denied."""
        moved = Staff(StaffId("eng-de-1"), CountryCode("US"))
        revisions = self.race(
            api, monkeypatch, lambda: api.store.import_bundle(ImportBundle(staff=[moved])), 1
        )
        answer = await api.grant("eng-de-1", "T-1001")
        assert answer.status == 403
        assert "consent_required" in (await answer.json())["reasons"]
        assert len(revisions) == 1
        assert api.events.of("session.issued") == []
        assert len(api.events.of("session.requested")) == len(api.events.of("session.denied")) == 1

    async def test_unrelated_change_only_retries(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Another record changed: the grant goes through on the second try, audited once."""
        stamp = api.clock.now()
        revisions = self.race(
            api,
            monkeypatch,
            lambda: api.store.set_staff_active(StaffId("eng-us-1"), False, stamp),
            1,
        )
        answer = await api.grant("eng-de-1", "T-1001")
        assert answer.status == 201
        assert len(revisions) == 2
        assert revisions[0] != revisions[1]
        assert len(api.events.of("session.requested")) == len(api.events.of("session.issued")) == 1

    async def test_records_that_keep_changing_give_up(
        self, api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A change before every attempt: 409 world_changed after three, nothing issued."""
        stamp = api.clock.now()
        flips = iter([False, True] * 5)
        self.race(
            api,
            monkeypatch,
            lambda: api.store.set_staff_active(StaffId("eng-us-1"), next(flips), stamp),
            99,
        )
        answer = await api.grant("eng-de-1", "T-1001")
        assert answer.status == 409
        assert (await answer.json())["code"] == "world_changed"
        listed = await api.store.list_sessions(SessionQuery(ticket_id=TicketId("T-1001")))
        assert listed.items == []


class TestRecentRecords:
    """Grants first decided over the store's recent records, which may be stale."""

    def another_process(self, api: Api) -> SqliteStore:
        """A second store on the same file, as another API process has: its writes
        change the records without touching this process's recent ones."""
        return SqliteStore(api.state / "broker.db", clock=api.clock)

    async def test_denial_over_stale_records_is_decided_again(self, api: Api) -> None:
        """Consent given through another process after a denial: the next grant is allowed."""
        assert (await api.grant("eng-us-1", "T-1001")).status == 403
        async with self.another_process(api) as other:
            await other.add_consent(
                Consent(
                    ConsentId("consent-race"),
                    OrgId("acme-de"),
                    TicketId("T-1001"),
                    StaffId("eng-us-1"),
                    Subject("admin-acme-de"),
                    api.clock.now(),
                    api.clock.now() + timedelta(hours=1),
                )
            )
        answer = await api.grant("eng-us-1", "T-1001")
        assert answer.status == 201, await answer.text()
        assert (await answer.json())["basis"] == "consent"

    @pytest.mark.parametrize("elsewhere", [True, False], ids=["other-process", "same-process"])
    async def test_allow_over_stale_records_is_decided_again(
        self, api: Api, elsewhere: bool
    ) -> None:
        """Staff deactivated after a grant: the next grant is denied with the policy's reason."""
        assert (await api.grant("eng-de-1", "T-1001")).status == 201
        async with self.another_process(api) as other:
            store = other if elsewhere else api.store
            await store.set_staff_active(StaffId("eng-de-1"), False, api.clock.now())
        answer = await api.grant("eng-de-1", "T-1001")
        assert answer.status == 403
        assert (await answer.json())["reasons"] == ["staff_inactive"]
        assert len(api.events.of("session.issued")) == 1
