"""``GET /v1/audit`` and the Transfer Impact Assessment over HTTP."""

from __future__ import annotations

import io

from pypdf import PdfReader

from broker.audit import Auditor
from broker.typing import WriterId
from tests.api.conftest import Api, soon

PERIOD = "from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z"


class TestAuditQuery:
    """Ops read the trail by filter."""

    async def test_ops_filter_by_ticket(self, api: Api) -> None:
        """Records of one ticket, from the ticket's region, with no raw PI fields."""
        await api.grant("eng-de-1", "T-1001")
        response = await api.client.get(
            "/v1/audit?ticket_id=T-1001", headers=api.token("ops-1", "ops")
        )
        assert response.status == 200
        items = (await response.json())["items"]
        assert {i["event"] for i in items} >= {"session.requested", "session.issued"}
        assert {i["region"] for i in items} == {"eu-central-1"}

    async def test_ops_filter_by_staff(self, api: Api) -> None:
        """``staff_id`` selects the records about one engineer, in every event type."""
        await api.grant("eng-de-1", "T-1001")
        await api.grant("eng-us-1", "T-1001")
        response = await api.client.get(
            "/v1/audit?region=eu-central-1&staff_id=eng-us-1", headers=api.token("ops-1", "ops")
        )
        items = (await response.json())["items"]
        assert {i["event"] for i in items} == {"session.requested", "session.denied"}
        assert {i["staff_id"] for i in items} == {"eng-us-1"}

    async def test_engineer_is_forbidden(self, api: Api) -> None:
        """The audit trail is for ops only."""
        response = await api.client.get(
            "/v1/audit?region=eu-central-1", headers=api.token("eng-de-1")
        )
        assert response.status == 403

    async def test_pages_merge_every_writers_chain(self, api: Api) -> None:
        """A replica's chain beside the API's: pages of one record walk both, in time order."""
        replica = Auditor(api.state, api.clock, writer=WriterId("eu-central-1-a1b2"))
        for ticket in ("T-r1", "T-r2"):
            api.auditor.emit(
                "session.denied", region="eu-central-1", ticket_id="T-m", reasons=["x"]
            )
            api.clock.advance(1)
            replica.emit("session.denied", region="eu-central-1", ticket_id=ticket, reasons=["x"])
            api.clock.advance(1)
        replica.close()
        seen, cursor = [], ""
        while True:
            response = await api.client.get(
                f"/v1/audit?region=eu-central-1&event=session.denied&limit=1{cursor}",
                headers=api.token("ops-1", "ops"),
            )
            page = await response.json()
            seen += [(i["writer"], i["ticket_id"]) for i in page["items"]]
            if page["next_cursor"] is None:
                break
            cursor = f"&cursor={page['next_cursor']}"
        replica_id = "eu-central-1-a1b2"
        assert seen == [
            ("main", "T-m"),
            (replica_id, "T-r1"),
            ("main", "T-m"),
            (replica_id, "T-r2"),
        ]

    async def test_a_bad_cursor_names_the_field(self, api: Api) -> None:
        """A cursor this API did not give out is a 400 on ``cursor``."""
        response = await api.client.get(
            "/v1/audit?region=eu-central-1&cursor=main:x", headers=api.token("ops-1", "ops")
        )
        assert (response.status, (await response.json())["field"]) == (400, "cursor")

    async def test_verify_lists_every_chain(self, api: Api) -> None:
        """Ops see each writer's chain; one tampered chain makes the region not ok, named."""
        await api.grant("eng-de-1", "T-1001")
        replica = Auditor(api.state, api.clock, writer=WriterId("eu-central-1-a1b2"))
        replica.emit("session.denied", region="eu-central-1", ticket_id="T-1", reasons=["x"])
        replica.close()
        ops = api.token("ops-1", "ops")
        answer = await (
            await api.client.get("/v1/audit/verify?region=eu-central-1", headers=ops)
        ).json()
        assert answer["ok"] is True
        assert [(c["writer"], c["ok"]) for c in answer["chains"]] == [
            ("eu-central-1-a1b2", True),
            ("main", True),
        ]
        segment = (
            api.state
            / "regions"
            / "eu-central-1"
            / "audit"
            / "eu-central-1-a1b2"
            / "00000001.jsonl"
        )
        segment.write_bytes(segment.read_bytes().replace(b"T-1", b"T-2"))
        answer = await (
            await api.client.get("/v1/audit/verify?region=eu-central-1", headers=ops)
        ).json()
        assert [(c["writer"], c["ok"]) for c in answer["chains"]] == [
            ("eu-central-1-a1b2", False),
            ("main", True),
        ]
        assert answer["ok"] is False

    async def test_verify_is_for_ops(self, api: Api) -> None:
        """An engineer may not read the trail's state either."""
        response = await api.client.get(
            "/v1/audit/verify?region=eu-central-1", headers=api.token("eng-de-1")
        )
        assert response.status == 403

    async def test_region_required_without_ids(self, api: Api) -> None:
        """Without a region, session or ticket the query names the missing field."""
        response = await api.client.get("/v1/audit", headers=api.token("ops-1", "ops"))
        assert (await response.json())["field"] == "region"


class TestTia:
    """GET /v1/orgs/{id}/tia."""

    async def test_tia_as_pdf(self, api: Api) -> None:
        """``format=pdf`` answers a PDF document whose text holds the report's figures."""
        await api.grant("eng-br-1", "T-1001")
        response = await api.client.get(
            f"/v1/orgs/acme-de/tia?{PERIOD}&format=pdf", headers=api.token("ops-1", "ops")
        )
        assert response.status == 200
        assert response.content_type == "application/pdf"
        reader = PdfReader(io.BytesIO(await response.read()))
        text = " ".join(page.extract_text() for page in reader.pages)
        assert "Transfer Impact Assessment" in text
        assert "country_not_permitted 1" in " ".join(text.split())

    async def test_tia_groups_accesses_by_country_and_basis(self, api: Api) -> None:
        """Accesses, consents and denials appear with their legal basis."""
        admin = api.token("cust-1", "customer_admin", "acme-de")
        body = {"staff_id": "eng-us-1", "expires_at": soon(api.clock)}
        consent = await (
            await api.client.post("/v1/tickets/T-1001/consents", json=body, headers=admin)
        ).json()
        await api.grant("eng-de-1", "T-1001")
        await api.grant("eng-us-1", "T-1001")
        await api.grant("eng-br-1", "T-1001")
        response = await api.client.get(
            f"/v1/orgs/acme-de/tia?{PERIOD}", headers=api.token("ops-1", "ops")
        )
        tia = await response.json()
        assert tia["region"] == "eu-central-1"
        rows = {(r["staff_country"], r["basis"]): r for r in tia["accesses"]}
        assert rows[("DE", "intra-eea")]["sessions"] == 1
        assert rows[("US", "consent")]["consent_ids"] == [consent["consent_id"]]
        assert tia["denials_by_reason"] == {"country_not_permitted": 1}
        assert tia["eea_only_waivers"] == []

    async def test_tia_lists_eea_only_waivers(self, api: Api) -> None:
        """A consent that waives EEA-only support is listed on its own, with its sessions."""
        admin = api.token("cust-2", "customer_admin", "bank-de")
        body = {"staff_id": "eng-us-1", "expires_at": soon(api.clock), "waives_eea_only": True}
        consent = await (
            await api.client.post("/v1/tickets/T-1002/consents", json=body, headers=admin)
        ).json()
        plain = {"staff_id": "eng-de-1", "expires_at": soon(api.clock)}  # EEA staff: no waiver
        await api.client.post("/v1/tickets/T-1002/consents", json=plain, headers=admin)
        assert (await api.grant("eng-us-1", "T-1002", view=True)).status == 201
        api.auditor.flush()
        ops = api.token("ops-1", "ops")
        tia = await (await api.client.get(f"/v1/orgs/bank-de/tia?{PERIOD}", headers=ops)).json()
        (waiver,) = tia["eea_only_waivers"]
        assert (waiver["consent_id"], waiver["ticket_id"], waiver["staff_id"]) == (
            consent["consent_id"],
            "T-1002",
            "eng-us-1",
        )
        assert (waiver["granted_by"], waiver["revoked"], waiver["sessions"]) == ("cust-2", False, 1)
        text = await (
            await api.client.get(f"/v1/orgs/bank-de/tia?{PERIOD}&format=md", headers=ops)
        ).text()
        section = text.split("## Consents that waived EEA-only support", 1)[1]
        assert f"| {consent['consent_id']} | T-1002 | eng-us-1 | cust-2 |" in section

    async def test_tia_markdown_for_customer_admin(self, api: Api) -> None:
        """A customer admin gets their own org's TIA as Markdown."""
        await api.grant("eng-in-1", "T-1003", view=True)  # bank-de is view only
        headers = api.token("cust-2", "customer_admin", "bank-de")
        response = await api.client.get(f"/v1/orgs/bank-de/tia?{PERIOD}&format=md", headers=headers)
        text = await response.text()
        assert response.content_type == "text/markdown"
        assert "# Transfer Impact Assessment: bank-de" in text
        assert "None: no consent let staff from outside the EEA into EEA-only support." in text
        assert "standard contractual clauses" in text
        assert "| cas | 1 |" in text

    async def test_tia_reads_every_writers_chain(self, api: Api) -> None:
        """A denial a replica chained counts beside the API's own, and its chain is verified."""
        await api.grant("eng-br-1", "T-1001")
        replica = Auditor(api.state, api.clock, writer=WriterId("eu-central-1-a1b2"))
        replica.emit(
            "session.denied", region="eu-central-1", org_id="acme-de", ticket_id="T-1001",
            staff_id="eng-br-1", staff_country="BR", reasons=["country_not_permitted"],
        )  # fmt: skip
        replica.close()
        ops = api.token("ops-1", "ops")
        tia = await (await api.client.get(f"/v1/orgs/acme-de/tia?{PERIOD}", headers=ops)).json()
        assert tia["denials_by_reason"] == {"country_not_permitted": 2}
        chain = api.state / "regions" / "eu-central-1" / "audit" / "eu-central-1-a1b2"
        segment = chain / "00000001.jsonl"
        segment.write_bytes(segment.read_bytes().replace(b"BR", b"DE"))
        response = await api.client.get(f"/v1/orgs/acme-de/tia?{PERIOD}", headers=ops)
        problem = await response.json()
        assert (response.status, problem["code"]) == (409, "audit_chain_broken")
        assert "eu-central-1-a1b2" in problem["detail"]

    async def test_tia_refuses_broken_chain(self, api: Api) -> None:
        """A tampered audit segment makes the TIA refuse with 409."""
        await api.grant("eng-de-1", "T-1001")
        api.auditor.flush()
        chain = api.state / "regions" / "eu-central-1" / "audit" / "main"
        segment = sorted(chain.glob("*.jsonl"))[0]
        segment.write_bytes(segment.read_bytes().replace(b"eng-de-1", b"eng-de-2", 1))
        response = await api.client.get(
            f"/v1/orgs/acme-de/tia?{PERIOD}", headers=api.token("ops-1", "ops")
        )
        assert response.status == 409
        assert (await response.json())["code"] == "audit_chain_broken"

    async def test_other_orgs_admin_forbidden(self, api: Api) -> None:
        """A customer admin cannot read another org's TIA: it reads as unknown."""
        headers = api.token("cust-3", "customer_admin", "shop-us")
        response = await api.client.get(f"/v1/orgs/acme-de/tia?{PERIOD}", headers=headers)
        assert response.status == 404

    async def test_tia_lists_watches(self, api: Api) -> None:
        """Each live watch (start and end from the region's gateway) is listed by watcher id."""
        response = await api.grant("eng-de-1", "T-1001", view=True)
        session_id = (await response.json())["session_id"]
        ids = {"session_id": session_id, "org_id": "acme-de", "ticket_id": "T-1001"}
        region = "eu-central-1"
        api.auditor.emit("viewer.watch_started", region=region, actor="cust-1", **ids)
        api.auditor.emit("viewer.watch_started", region=region, actor="ops-1", **ids)
        api.auditor.emit(
            "viewer.watch_ended", region=region, actor="cust-1", duration_s=42,
            reason="page_closed", **ids,
        )  # fmt: skip
        api.auditor.flush()
        ops = api.token("ops-1", "ops")
        tia = await (await api.client.get(f"/v1/orgs/acme-de/tia?{PERIOD}", headers=ops)).json()
        watches = {w["watcher"]: w for w in tia["watches"]}
        assert watches["cust-1"]["seconds"] == 42
        assert watches["cust-1"]["session_id"] == session_id
        assert watches["ops-1"]["ended_at"] is None
        text = await (
            await api.client.get(f"/v1/orgs/acme-de/tia?{PERIOD}&format=md", headers=ops)
        ).text()
        section = text.split("## Who watched sessions live (read-only)", 1)[1]
        assert f"| cust-1 | {session_id} | T-1001 |" in section
        assert "still watching" in section

    async def test_tia_lists_replays(self, api: Api) -> None:
        """A replay is listed like a watch, in its own section."""
        response = await api.grant("eng-de-1", "T-1001", view=True)
        session_id = (await response.json())["session_id"]
        ids = {"session_id": session_id, "org_id": "acme-de", "ticket_id": "T-1001"}
        api.auditor.emit("viewer.replay_started", region="eu-central-1", actor="ops-1", **ids)
        api.auditor.emit(
            "viewer.replay_ended", region="eu-central-1", actor="ops-1", duration_s=7, **ids
        )
        api.auditor.flush()
        ops = api.token("ops-1", "ops")
        tia = await (await api.client.get(f"/v1/orgs/acme-de/tia?{PERIOD}", headers=ops)).json()
        assert [(r["watcher"], r["seconds"]) for r in tia["replays"]] == [("ops-1", 7)]
        assert tia["watches"] == []
        text = await (
            await api.client.get(f"/v1/orgs/acme-de/tia?{PERIOD}&format=md", headers=ops)
        ).text()
        assert f"| ops-1 | {session_id} | T-1001 |" in text.split("## Who replayed", 1)[1]
