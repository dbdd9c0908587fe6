"""Customer admin pages in-process: what they list, what their forms do, the TIA downloads."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Api, soon
from tests.console.conftest import origin, sign_in


async def consent(api: Api, staff: str = "eng-us-1", ticket: str = "T-1001") -> str:
    """A consent granted through the API by acme-de's admin."""
    headers = api.token("cust-admin-1", "customer_admin", "acme-de")
    body = {"staff_id": staff, "expires_at": soon(api.clock)}
    answer = await api.client.post(f"/v1/tickets/{ticket}/consents", json=body, headers=headers)
    assert answer.status == 201, await answer.text()
    return str((await answer.json())["consent_id"])


async def session(api: Api, staff: str, ticket: str, *, view: bool = False) -> str:
    """A session opened through the API."""
    answer = await api.grant(staff, ticket, view=view)
    assert answer.status == 201, await answer.text()
    return str((await answer.json())["session_id"])


class TestSessionsPage:
    """The org's sessions, and nobody else's."""

    async def test_lists_own_org_only(self, api: Api) -> None:
        """acme-de's admin sees the session on T-1001, not the one on shop-us's T-2001; a
        live view session offers Watch, a live terminal none."""
        mine = await session(api, "eng-de-1", "T-1001", view=True)
        terminal = await session(api, "eng-de-1", "T-1001")
        theirs = await session(api, "eng-de-1", "T-2001")
        await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        page = await (await api.client.get("/console/admin/sessions")).text()
        assert mine in page
        assert terminal in page
        assert theirs not in page
        assert f'aria-label="Watch session {mine}"' in page
        assert f'aria-label="Watch session {terminal}"' not in page

    async def test_pages_older_sessions(self, api: Api) -> None:
        """More than a page: the first shows 25 and links to the rest."""
        made = [await session(api, "eng-de-1", "T-1001") for _ in range(26)]
        await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        first = await (await api.client.get("/console/admin/sessions")).text()
        assert sum(s in first for s in made) == 25
        assert "Older sessions" in first

    async def test_watch_of_a_terminal_session_is_refused(self, api: Api) -> None:
        """The service's refusal is the page's: a terminal session has no viewer (409)."""
        terminal = await session(api, "eng-de-1", "T-1001")
        csrf = await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        answer = await api.client.post(
            f"/console/sessions/{terminal}/watch", data={"csrf": csrf}, headers=origin(api)
        )
        assert answer.status == 409
        assert "no viewer" in await answer.text()


class TestConsentsPage:
    """A ticket's consents, and revoking one."""

    async def test_revoke_ends_the_sessions_it_allowed(self, api: Api) -> None:
        """The Revoke form revokes the consent and its live session, as the API does, and the
        page says so in a status message."""
        consent_id = await consent(api)
        consented = await session(api, "eng-us-1", "T-1001")
        csrf = await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        listed = await (await api.client.get("/console/admin/consents?ticket=T-1001")).text()
        assert consent_id in listed
        answer = await api.client.post(
            f"/console/admin/consents/T-1001/{consent_id}/revoke",
            data={"csrf": csrf},
            headers=origin(api),
        )
        assert answer.status == 200
        assert 'role="status">The consent is revoked' in await answer.text()
        assert (await api.store.get_session(consented)).state == "revoked"
        [revoked] = api.events.of("consent.revoked")
        assert revoked["actor"] == "cust-admin-1"

    async def test_revoke_without_csrf_changes_nothing(self, api: Api) -> None:
        """A forged revoke (no token) is refused and the consent stays."""
        consent_id = await consent(api)
        await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        answer = await api.client.post(
            f"/console/admin/consents/T-1001/{consent_id}/revoke", headers=origin(api)
        )
        assert answer.status == 403
        assert not api.events.of("consent.revoked")

    @pytest.mark.parametrize("ticket", ["T-2001", "T-0000"])
    async def test_other_orgs_ticket_is_unknown(self, api: Api, ticket: str) -> None:
        """Another org's ticket and a ticket that does not exist answer alike: 404."""
        await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        answer = await api.client.get(f"/console/admin/consents?ticket={ticket}")
        assert answer.status == 404
        assert "unknown ticket" in await answer.text()


class TestTia:
    """The TIA page and its downloads."""

    async def test_downloads(self, api: Api) -> None:
        """Markdown and JSON attachments of the org's own TIA, never cached."""
        await session(api, "eng-de-1", "T-1001")
        await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        query = "?from=2026-11-01&to=2026-11-30"
        md = await api.client.get(f"/console/admin/tia.md{query}")
        assert md.headers["Content-Disposition"].startswith("attachment;")
        assert md.headers["Cache-Control"] == "no-store"
        assert (await md.text()).startswith("# Transfer Impact Assessment: acme-de")
        report = json.loads(await (await api.client.get(f"/console/admin/tia.json{query}")).read())
        assert report["org_id"] == "acme-de"
        assert report["accesses"][0]["staff_country"] == "DE"
        page = await (await api.client.get(f"/console/admin/tia{query}")).text()
        assert "<caption>Sessions by staff country and legal basis</caption>" in page

    @pytest.mark.parametrize(
        ("query", "field"),
        [("?from=yesterday", "from"), ("?from=2026-11-10&to=2026-11-01", "to")],
    )
    async def test_bad_period_names_the_field(self, api: Api, query: str, field: str) -> None:
        """A period that is not one: 400, naming the field."""
        await sign_in(api, "cust-admin-1", "customer_admin", "acme-de")
        answer = await api.client.get(f"/console/admin/tia{query}")
        assert answer.status == 400
        assert f"{field}:" in await answer.text()

    async def test_other_roles_are_refused(self, api: Api) -> None:
        """An engineer signed in to the console cannot open the admin pages (403)."""
        await sign_in(api, "eng-de-1", "engineer")
        assert (await api.client.get("/console/admin/tia")).status == 403
