"""Rows at the domain's edges, written through the API and read back through every read path.

Issue 20's worst case was a consent the API accepted and nothing could read
back. Here every write path stores its extreme values (the longest and
shortest ids, the latest and earliest times with the widest offsets, the
longest and shortest session lifetimes), and then every read endpoint, and
every later write that touches them, must answer them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api, public_key
from tests.test_validate import CONFUSABLES, OFFSETS, offset_text

LONG = "x" * 127
ORG, TICKET, STAFF, TARGET = "o" + LONG, "T" + LONG, "u" + LONG, "a" + LONG
SHORT_ORG, SHORT_TICKET = "o", "1"
LATEST = "8999-12-31T23:59:59.999999-23:59"
LATEST_UTC = "9000-01-01T23:58:59.999999Z"
EARLIEST = "1970-01-01T00:00:00+23:59"
SOONEST = "2026-11-25T10:00:00.000001Z"
"""One microsecond after the fixture's clock: the shortest consent there is."""
IMPORT = {
    "orgs": [
        {
            "id": ORG,
            "region": "eu-central-1",
            "tier": "standard",
            "record_input": False,
            "terminal_access": True,
        },
        {"id": SHORT_ORG, "region": "eu-central-1", "tier": "eea_only"},
    ],
    "staff": [{"id": STAFF, "country": "US", "active": True}],
    "tickets": [
        {"id": TICKET, "org_id": ORG, "severity": 4, "scope": "product", "status": "open"},
        {"id": SHORT_TICKET, "org_id": SHORT_ORG, "severity": 1},
    ],
    "targets": [
        {
            "org_id": ORG,
            "name": TARGET,
            "region": "eu-central-1",
            "host": "127.0.0.1",
            "port": 65535,
            "user": "u" + LONG,
        }
    ],
}


async def _ok(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    if response.content_type == "application/json":
        return await response.json()
    return await response.text()


class TestEdgeRowsReadBack:
    """Everything a write path accepted, every read path answers."""

    async def _write_edges(self, api: Api) -> dict[str, str]:
        admin = api.token("root", "admin")
        await _ok(await api.client.post("/v1/import", json=IMPORT, headers=admin))
        customer = api.token("cust-1", "customer_admin", ORG)
        body = {"staff_id": STAFF, "expires_at": LATEST}
        path = f"/v1/tickets/{TICKET}/consents"
        consent = await _ok(await api.client.post(path, json=body, headers=customer), 201)
        assert consent["expires_at"] == LATEST_UTC
        waiver = {"staff_id": STAFF, "expires_at": SOONEST, "waives_eea_only": True}
        short = api.token("cust-2", "customer_admin", SHORT_ORG)
        path = f"/v1/tickets/{SHORT_TICKET}/consents"
        await _ok(await api.client.post(path, json=waiver, headers=short), 201)
        sessions = []
        for ttl, key in ((60, public_key()), (86400, public_key()), (86400, None)):
            grant = {
                "ticket_id": TICKET,
                "target": TARGET,
                "public_key": key,
                "ttl_seconds": ttl,
                "source_address": "::/0",
            }
            response = await api.client.post("/v1/sessions", json=grant, headers=api.token(STAFF))
            sessions.append((await _ok(response, 201))["session_id"])
        return {
            "consent": consent["consent_id"],
            "first": sessions[0],
            "second": sessions[1],
            "view": sessions[2],
        }

    async def test_every_read_path(self, api: Api) -> None:
        """Lists, single reads, paging, routing, audit and TIA all answer the edge rows."""
        ids = await self._write_edges(api)
        ops, customer = api.token("ops-1", "ops"), api.token("cust-1", "customer_admin", ORG)
        get = api.client.get
        for who in (ops, customer):
            listed = await _ok(await get(f"/v1/tickets/{TICKET}/consents", headers=who))
            assert [c["expires_at"] for c in listed["items"]] == [LATEST_UTC]
            await _ok(await get(f"/v1/tickets/{TICKET}/routing", headers=who))
        await _ok(await get(f"/v1/tickets/{SHORT_TICKET}/routing", headers=ops))
        seen = await self._page_sessions(api, ops)
        assert {ids["first"], ids["second"], ids["view"]} <= seen
        own = await _ok(
            await get("/v1/sessions", params={"limit": "500"}, headers=api.token(STAFF))
        )
        assert {s["session_id"] for s in own["items"]} == {ids["first"], ids["second"], ids["view"]}
        for session_id in (ids["first"], ids["second"], ids["view"]):
            shown = await _ok(await get(f"/v1/sessions/{session_id}", headers=ops))
            assert shown["consent_id"] == ids["consent"]
        await self._page_audit(api, ops)
        window = {"from": EARLIEST, "to": LATEST}
        for fmt in ("json", "md"):
            params = {**window, "format": fmt}
            await _ok(await get(f"/v1/orgs/{ORG}/tia", params=params, headers=customer))
            await _ok(await get(f"/v1/orgs/{SHORT_ORG}/tia", params=params, headers=ops))
        waivers = await _ok(await get(f"/v1/tickets/{SHORT_TICKET}/consents", headers=ops))
        assert [c["waives_eea_only"] for c in waivers["items"]] == [True]

    async def test_every_later_write(self, api: Api) -> None:
        """Revoking, closing and deactivating over the edge rows all succeed."""
        ids = await self._write_edges(api)
        ops, admin = api.token("ops-1", "ops"), api.token("root", "admin")
        customer = api.token("cust-1", "customer_admin", ORG)
        await _ok(await api.client.delete(f"/v1/sessions/{ids['first']}", headers=ops))
        path = f"/v1/tickets/{TICKET}/consents/{ids['consent']}"
        revoked = await _ok(await api.client.delete(path, headers=customer))
        assert revoked["expires_at"] == LATEST_UTC
        shown = await _ok(await api.client.get(f"/v1/sessions/{ids['second']}", headers=ops))
        assert shown["state"] == "revoked"
        patch = api.client.patch
        await _ok(await patch(f"/v1/tickets/{TICKET}", json={"status": "closed"}, headers=ops))
        await _ok(await patch(f"/v1/staff/{STAFF}", json={"active": False}, headers=admin))
        await _ok(await api.client.post("/v1/import", json=IMPORT, headers=admin))

    async def _page_sessions(self, api: Api, headers: dict[str, str]) -> set[str]:
        seen: set[str] = set()
        params = {"limit": "1", "ticket_id": TICKET, "staff_id": STAFF, "state": "issued"}
        while True:
            page = await _ok(await api.client.get("/v1/sessions", params=params, headers=headers))
            seen |= {s["session_id"] for s in page["items"]}
            if page["next_cursor"] is None:
                return seen
            params["cursor"] = page["next_cursor"]

    async def _page_audit(self, api: Api, headers: dict[str, str]) -> None:
        params = {"ticket_id": TICKET, "since": EARLIEST, "until": LATEST, "limit": "1"}
        events = []
        while True:
            page = await _ok(await api.client.get("/v1/audit", params=params, headers=headers))
            events += [r["event"] for r in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert "consent.granted" in events
        assert events.count("session.issued") == 3


def _confusable_ids() -> st.SearchStrategy[tuple[str, str]]:
    """A demo id and the same id with one lookalike, fullwidth or zero-width character in it."""
    return st.tuples(
        st.sampled_from(["T-1001", "eng-us-1", "acme-de", "app-1"]),
        st.integers(0, 8),
        st.sampled_from(CONFUSABLES),
    ).map(lambda t: (t[0], t[0][: t[1]] + t[2] + t[0][t[1] :]))


EDGE_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


class TestDomainEdgesThroughTheApi:
    """Generated values through the live API: accepted and round-tripped, or a clear 4xx."""

    @EDGE_SETTINGS
    @given(moment=st.datetimes(), offset=OFFSETS)
    async def test_consent_expiry_any_time_any_offset(self, api: Api, moment, offset) -> None:
        """201 with the same instant in UTC read back, or 400 naming expires_at."""
        text = moment.isoformat() + offset_text(offset.utcoffset(None))
        customer = api.token("cust-1", "customer_admin", "acme-de")
        body = {"staff_id": "eng-us-1", "expires_at": text}
        response = await api.client.post("/v1/tickets/T-1001/consents", json=body, headers=customer)
        assert response.status in (201, 400), await response.text()
        answer = await response.json()
        if response.status == 400:
            assert answer["field"] == "expires_at"
            return
        expected = moment.replace(tzinfo=offset).astimezone(UTC)
        assert datetime.fromisoformat(answer["expires_at"]) == expected
        listed = await api.client.get("/v1/tickets/T-1001/consents", headers=customer)
        assert answer["consent_id"] in {c["consent_id"] for c in (await listed.json())["items"]}

    @EDGE_SETTINGS
    @given(moment=st.datetimes(), offset=OFFSETS, name=st.sampled_from(["since", "until"]))
    async def test_audit_times(self, api: Api, moment, offset, name) -> None:
        """The audit query answers any time with any offset: 200, or 400 naming it."""
        text = moment.isoformat() + offset_text(offset.utcoffset(None))
        params = {"region": "eu-central-1", name: text}
        response = await api.client.get("/v1/audit", params=params, headers=api.token("o", "ops"))
        assert response.status in (200, 400), await response.text()
        if response.status == 400:
            assert (await response.json())["field"] == name

    @EDGE_SETTINGS
    @given(
        text=st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=25),
        path=st.sampled_from(["/v1/sessions", "/v1/audit?region=eu-central-1"]),
        name=st.sampled_from(["limit", "cursor"]),
    )
    async def test_integers_in_every_digit_class(self, api: Api, text, path, name) -> None:
        """limit and cursor in any script's digits: ASCII within bounds is 200, the rest 400."""
        response = await api.client.get(
            path, params={name: text}, headers=api.token("ops-1", "ops")
        )
        assert response.status in (200, 400), await response.text()
        if response.status == 400:
            assert (await response.json())["field"] == name
        else:
            assert text.isascii()

    @EDGE_SETTINGS
    @given(ids=_confusable_ids())
    async def test_confusable_ids_are_refused(self, api: Api, ids) -> None:
        """An id with a lookalike in it is a 400, never taken for the id it resembles."""
        real, spoof = ids
        headers = api.token("ops-1", "ops")
        response = await api.client.get(f"/v1/tickets/{quote(spoof)}/routing", headers=headers)
        assert response.status == 400, await response.text()
        body = {"ticket_id": spoof, "target": "app-1", "public_key": public_key()}
        grant = await api.client.post("/v1/sessions", json=body, headers=api.token("eng-de-1"))
        assert grant.status == 400
        assert (await grant.json())["field"] == "ticket_id"
        consent = {"staff_id": spoof, "expires_at": "2026-12-01T00:00:00Z"}
        customer = api.token("cust-1", "customer_admin", "acme-de")
        created = await api.client.post(
            "/v1/tickets/T-1001/consents", json=consent, headers=customer
        )
        assert created.status == 400
        assert real != spoof


class TestRowsFromBeforeTheFix:
    """A consent stored before times were validated (issue 20) is readable and revocable."""

    async def test_unrepresentable_expiry_reads_as_the_latest_time(self, api: Api) -> None:
        """The expiry reads as datetime.max in UTC: listed, granted on, and revoked, all 2xx."""
        customer = api.token("cust-1", "customer_admin", "acme-de")
        body = {"staff_id": "eng-us-1", "expires_at": "2026-12-01T00:00:00Z"}
        path = "/v1/tickets/T-1001/consents"
        consent_id = (await _ok(await api.client.post(path, json=body, headers=customer), 201))[
            "consent_id"
        ]
        old_bug = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(minutes=1439)))
        micros = (old_bug - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        with contextlib.closing(sqlite3.connect(api.store.path)) as db, db:
            db.execute("UPDATE consents SET expires_at = ? WHERE id = ?", (micros, consent_id))
        listed = await _ok(await api.client.get(path, headers=customer))
        assert [c["expires_at"] for c in listed["items"]] == ["9999-12-31T23:59:59.999999Z"]
        granted = await _ok(await api.grant("eng-us-1", "T-1001"), 201)
        assert granted["consent_id"] == consent_id
        await _ok(await api.client.delete(f"{path}/{consent_id}", headers=customer))
        shown = await _ok(
            await api.client.get(
                f"/v1/sessions/{granted['session_id']}", headers=api.token("ops-1", "ops")
            )
        )
        assert shown["state"] == "revoked"
