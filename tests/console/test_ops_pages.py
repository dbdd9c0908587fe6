"""Ops pages in-process: dashboard, sessions (filter, revoke), audit search, explain, TIA."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.api.conftest import Api
from tests.console.conftest import origin, sign_in

OPS_PAGES = ["/console/ops/", "/console/ops/sessions", "/console/ops/audit", "/console/ops/tia"]


async def page(api: Api, path: str, status: int = 200) -> str:
    """GET ``path``, check its status, return its HTML."""
    answer = await api.client.get(path, allow_redirects=False)
    text = await answer.text()
    assert answer.status == status, text
    return text


class TestAccess:
    """Ops pages are for ops and admins only."""

    @pytest.mark.parametrize("path", OPS_PAGES)
    @pytest.mark.parametrize(
        ("subject", "role", "org"),
        [("eng-de-1", "engineer", None), ("cust-1", "customer_admin", "acme-de")],
    )
    async def test_other_roles_are_refused(self, api: Api, path, subject, role, org) -> None:
        """An engineer or a customer admin gets 403 on every ops page."""
        await sign_in(api, subject, role, org)
        await page(api, path, 403)

    @pytest.mark.parametrize("path", OPS_PAGES)
    async def test_admins_see_them(self, api: Api, path: str) -> None:
        """The broker's admins see the ops pages too."""
        await sign_in(api, "adm-1", "admin")
        await page(api, path)


class TestDashboard:
    """Charts drawn server-side, with their tables."""

    async def test_charts_show_the_trail(self, api: Api) -> None:
        """A session and a denial appear in the figures, the charts and their tables."""
        await api.grant("eng-de-1", "T-1001")
        await api.grant("eng-br-1", "T-1001")
        await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/")
        assert html.count('role="img"') == 3
        assert "<strong>1</strong> sessions issued" in html
        assert '<th scope="row">country_not_permitted</th><td>1</td>' in html
        assert "<script" not in html

    async def test_bad_period_names_the_field(self, api: Api) -> None:
        """A reversed period is a 400 page naming ``to``."""
        await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/?from=2026-11-20&to=2026-11-10", 400)
        assert "to: must not be before from" in html


class TestSessions:
    """Filter, page and revoke."""

    async def test_filters_and_revoke(self, api: Api) -> None:
        """Region filter narrows the list; revoke ends the session (CSRF-checked)."""
        granted = await (await api.grant("eng-de-1", "T-1001")).json()
        sid = granted["session_id"]
        csrf = await sign_in(api, "ops-1", "ops")
        assert sid in await page(api, "/console/ops/sessions?region=eu-central-1&state=issued")
        assert sid not in await page(api, "/console/ops/sessions?region=us-east-1")
        assert sid in await page(api, "/console/ops/sessions?org=acme-de&staff=eng-de-1")
        refused = await api.client.post(
            f"/console/ops/sessions/{sid}/revoke", data={}, headers=origin(api)
        )
        assert refused.status == 403
        done = await api.client.post(
            f"/console/ops/sessions/{sid}/revoke", data={"csrf": csrf}, headers=origin(api),
            allow_redirects=False,
        )  # fmt: skip
        assert done.status == 303
        assert (await api.store.get_session(sid)).state == "revoked"
        listed = await page(api, done.headers["Location"])
        assert "The session was revoked" in listed

    async def test_watch_a_live_view_session(self, api: Api) -> None:
        """Ops get *Watch* on a live view session; it answers with a viewer link."""
        sid = (await (await api.grant("eng-no-1", "T-1002", view=True)).json())["session_id"]
        csrf = await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/sessions?ticket=T-1002")
        assert f'aria-label="Watch session {sid}"' in html
        answer = await api.client.post(
            f"/console/sessions/{sid}/watch", data={"csrf": csrf},
            headers=origin(api),
        )  # fmt: skip
        assert answer.status == 200
        assert "#t=" in await answer.text()

    async def test_pages_follow_the_cursor(self, api: Api) -> None:
        """More than a page of sessions: a next-page link that keeps the filters."""
        for _ in range(51):
            await api.grant("eng-de-1", "T-1001")
        await sign_in(api, "ops-1", "ops")
        first = await page(api, "/console/ops/sessions?ticket=T-1001")
        link = re.search(r'href="([^"]+)" rel="next"', first)
        assert link is not None
        second = await page(api, link[1].replace("&amp;", "&"))
        assert second.count("<code>") == 1
        assert "ticket=T-1001" in link[1]

    async def test_personal_data_as_a_filter_is_refused(self, api: Api) -> None:
        """An email in the staff filter is refused, naming the field, and not echoed."""
        await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/sessions?staff=jane%40example.com", 400)
        assert "staff" in html
        assert "jane@example.com" not in html


class TestAuditAndExplain:
    """Search the trail; each region's verify status; a denial explained."""

    async def test_search_verify_and_explain(self, api: Api) -> None:
        """The denial is found by staff, every chain shows intact, explain says consent."""
        await api.grant("eng-us-1", "T-1001")
        await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/audit?region=eu-central-1&staff=eng-us-1")
        assert html.count("Intact") >= 1  # one row per chain written so far
        assert "Broken" not in html
        assert "session.requested" in html
        explain = re.search(
            r'href="(/console/ops/audit/eu-central-1/[a-z0-9-]+/\d+/explain)"', html
        )
        assert explain is not None
        found = await page(api, explain[1])
        assert "consent_required" in found
        assert "With the customer&#39;s consent for this ticket" in found
        assert "<strong>Allowed</strong>, on the basis <code>consent</code>" in found
        assert "--staff-country US" in found

    async def test_a_ticket_finds_its_own_region(self, api: Api) -> None:
        """No region chosen: a US ticket's records come from us-east-1."""
        await api.grant("eng-us-1", "T-2001")
        await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/audit?region=&ticket=T-2001")
        assert "session.issued" in html
        assert "Records of the region of T-2001" in html
        assert "eng-us-1" in html

    async def test_not_a_denial_is_404(self, api: Api) -> None:
        """Explain on a record that is no denial answers as unknown."""
        await api.grant("eng-de-1", "T-1001")
        await sign_in(api, "ops-1", "ops")
        await page(api, "/console/ops/audit/eu-central-1/main/1/explain", 404)

    async def test_event_filter_and_bad_event(self, api: Api) -> None:
        """The event filter selects; an event the select never offered is a 400."""
        await api.grant("eng-de-1", "T-1001")
        await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/audit?region=eu-central-1&event=session.issued")
        assert "session.issued" in html
        assert "session.requested</td>" not in html
        await page(api, "/console/ops/audit?event=nope", 400)


class TestTia:
    """Any org's TIA for ops; the PDF for customer admins (their own org only)."""

    async def test_ops_page_and_downloads(self, api: Api) -> None:
        """The page for a named org, and its PDF, Markdown and JSON downloads."""
        await api.grant("eng-br-1", "T-1001")
        await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/tia?org=acme-de")
        assert "Transfer impact assessment: acme-de" in html
        pdf = re.search(r'href="(/console/tia\.pdf\?[^"]+)"', html)
        assert pdf is not None
        answer = await api.client.get(pdf[1].replace("&amp;", "&"))
        assert answer.content_type == "application/pdf"
        text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(await answer.read())).pages)
        assert "acme-de" in text
        assert "country_not_permitted" in text
        md = await api.client.get("/console/ops/tia.md?org=acme-de")
        assert "# Transfer Impact Assessment: acme-de" in await md.text()

    async def test_customer_admin_pdf_is_their_own_org(self, api: Api) -> None:
        """A customer admin's ``tia.pdf`` is their org's, whatever org the URL names."""
        await sign_in(api, "cust-2", "customer_admin", "bank-de")
        answer = await api.client.get("/console/tia.pdf?org=acme-de")
        assert answer.status == 200
        text = PdfReader(io.BytesIO(await answer.read())).pages[0].extract_text()
        assert "bank-de" in text
        assert "acme-de" not in text

    async def test_customer_admin_page_links_the_pdf(self, api: Api) -> None:
        """The customer admin's TIA page offers the PDF beside Markdown and JSON."""
        await sign_in(api, "cust-1", "customer_admin", "acme-de")
        html = await page(api, "/console/admin/tia")
        assert 'href="/console/tia.pdf?' in html

    async def test_ops_without_org_gets_the_form(self, api: Api) -> None:
        """No org named: the form, no report."""
        await sign_in(api, "ops-1", "ops")
        html = await page(api, "/console/ops/tia")
        assert 'name="org"' in html
        assert "Download" not in html
