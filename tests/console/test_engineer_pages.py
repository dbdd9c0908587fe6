"""Engineer pages in-process: their work, a ticket's routing, opening a session."""

from __future__ import annotations

import re

import pytest

from broker.store.base import SessionQuery
from broker.typing import StaffId
from tests.api.conftest import Api, public_key
from tests.console.conftest import origin, sign_in

ENGINEER_PAGES = ["/console/engineer/", "/console/engineer/tickets/T-1001"]


async def page(api: Api, path: str, status: int = 200) -> str:
    """GET ``path``, check its status, return its HTML."""
    answer = await api.client.get(path, allow_redirects=False)
    text = await answer.text()
    assert answer.status == status, text
    return text


async def open_form(api: Api, ticket: str, csrf: str, **fields: str):
    """POST the open-a-session form of ``ticket``."""
    data = {"csrf": csrf, "target": "app-1", **fields}
    return await api.client.post(
        f"/console/engineer/tickets/{ticket}/sessions", data=data, headers=origin(api)
    )


class TestAccess:
    """Engineer pages are for engineers."""

    @pytest.mark.parametrize("path", ENGINEER_PAGES)
    async def test_ops_are_refused(self, api: Api, path: str) -> None:
        """Another role gets 403."""
        await sign_in(api, "ops-1", "ops")
        await page(api, path, 403)


class TestHomeAndRouting:
    """Their sessions and tickets; a ticket's routing."""

    async def test_home_lists_only_their_sessions(self, api: Api) -> None:
        """Their session and its ticket are listed; another engineer's are not."""
        mine = await (await api.grant("eng-de-1", "T-1001")).json()
        theirs = await (await api.grant("eng-ie-1", "T-1001")).json()
        await sign_in(api, "eng-de-1", "engineer")
        html = await page(api, "/console/engineer/")
        assert mine["session_id"] in html
        assert theirs["session_id"] not in html
        assert 'href="/console/engineer/tickets/T-1001"' in html

    async def test_lookup_goes_to_the_ticket(self, api: Api) -> None:
        """The look-up form's answer is a redirect to the ticket's page."""
        await sign_in(api, "eng-de-1", "engineer")
        answer = await api.client.get(
            "/console/engineer/ticket?ticket=T-1001", allow_redirects=False
        )
        assert answer.headers["Location"] == "/console/engineer/tickets/T-1001"

    @pytest.mark.parametrize(
        ("staff", "ticket", "says", "modes"),
        [
            ("eng-de-1", "T-1001", "on the basis <code>intra-eea</code>", ["view", "terminal"]),
            ("eng-us-1", "T-1001", "need the customer's consent", ["view", "terminal"]),
            ("eng-no-1", "T-1002", "on the basis <code>intra-eea</code>", ["view"]),
        ],
    )
    async def test_routing_for_me(self, api: Api, staff, ticket, says, modes) -> None:
        """The page says how I may work the ticket, and offers only its modes."""
        await sign_in(api, staff, "engineer")
        html = await page(api, f"/console/engineer/tickets/{ticket}")
        assert says in html
        assert re.findall(r'name="mode" value="(\w+)"', html) == modes
        assert ('name="public_key"' in html) == ("terminal" in modes)

    async def test_unknown_ticket(self, api: Api) -> None:
        """An unknown ticket is a 404 page."""
        await sign_in(api, "eng-de-1", "engineer")
        await page(api, "/console/engineer/tickets/T-0000", 404)


class TestOpenSession:
    """The button: a viewer link, an ssh command, or the policy's reasons."""

    async def test_view_session_shows_the_viewer_link(self, api: Api) -> None:
        """A view session's page links into the region's viewer with a single-use token."""
        csrf = await sign_in(api, "eng-no-1", "engineer")
        answer = await open_form(api, "T-1002", csrf, mode="view")
        html = await answer.text()
        assert answer.status == 200, html
        assert re.search(r'href="http://127\.0\.0\.1:2223/#t=[^"]+"', html)
        (session,) = (await api.store.list_sessions(_by("eng-no-1"))).items
        assert (session.access, session.ticket_id) == ("view", "T-1002")

    async def test_terminal_session_shows_certificate_and_command(self, api: Api) -> None:
        """A terminal for the given key: the certificate and the ssh command to use it."""
        csrf = await sign_in(api, "eng-de-1", "engineer")
        answer = await open_form(api, "T-1001", csrf, mode="terminal", public_key=public_key())
        html = await answer.text()
        assert answer.status == 200, html
        assert "ssh-ed25519-cert-v01@openssh.com " in html
        (session,) = (await api.store.list_sessions(_by("eng-de-1"))).items
        assert (
            f"ssh -tt -p 2222 -i ~/.ssh/id_ed25519 -o CertificateFile=~/.ssh/broker-{session.id}"
            in html
        )
        assert f"{session.id}@127.0.0.1" in html

    async def test_terminal_without_key_names_the_field(self, api: Api) -> None:
        """No public key for a terminal: a 400 naming ``public_key``; nothing is issued."""
        csrf = await sign_in(api, "eng-de-1", "engineer")
        answer = await open_form(api, "T-1001", csrf, mode="terminal")
        assert answer.status == 400
        assert "public_key" in await answer.text()
        assert (await api.store.list_sessions(_by("eng-de-1"))).items == []

    async def test_denied_shows_the_reasons(self, api: Api) -> None:
        """A US engineer without consent: 403 on the ticket's page, with the reason."""
        csrf = await sign_in(api, "eng-us-1", "engineer")
        answer = await open_form(api, "T-1001", csrf, mode="view")
        html = await answer.text()
        assert answer.status == 403
        assert "<code>consent_required</code>" in html
        assert "needs the customer&#39;s consent" in html

    async def test_csrf_is_required(self, api: Api) -> None:
        """Without the session's token the form is refused and nothing is issued."""
        await sign_in(api, "eng-de-1", "engineer")
        answer = await open_form(api, "T-1001", "0" * 64, mode="view")
        assert answer.status == 403
        assert (await api.store.list_sessions(_by("eng-de-1"))).items == []

    async def test_new_viewer_link_for_own_live_session(self, api: Api) -> None:
        """A live view session gets a fresh link from the home page's button."""
        granted = await (await api.grant("eng-no-1", "T-1002", view=True)).json()
        csrf = await sign_in(api, "eng-no-1", "engineer")
        assert "New viewer link" in await page(api, "/console/engineer/")
        answer = await api.client.post(
            f"/console/engineer/sessions/{granted['session_id']}/link",
            data={"csrf": csrf}, headers=origin(api),
        )  # fmt: skip
        assert answer.status == 200
        assert "#t=" in await answer.text()


def _by(staff: str) -> SessionQuery:
    """Every session of ``staff``."""
    return SessionQuery(staff_id=StaffId(staff))


class TestConsentRequests:
    """Ask for consent from the ticket's page; see and withdraw requests at home."""

    async def test_ask_see_and_withdraw(self, api: Api) -> None:
        """The ask form (offered where consent is needed) stores a pending request that
        home lists, links and can withdraw; the reason never reaches the audit events."""
        csrf = await sign_in(api, "eng-us-1", "engineer")
        assert 'name="reason"' in await page(api, "/console/engineer/tickets/T-1001")
        asked = await api.client.post(
            "/console/engineer/tickets/T-1001/consent-requests",
            data={"csrf": csrf, "duration": "7200", "reason": "customer asked for a look"},
            headers=origin(api), allow_redirects=False,
        )  # fmt: skip
        assert asked.status == 303
        home = await page(api, asked.headers["Location"])
        assert "Your request is with the customer" in home
        assert "pending" in home
        found = re.search(r'action="(/console/engineer/consent-requests/[^/]+/cancel)"', home)
        assert found is not None
        assert "customer asked for a look" not in str(api.events.of("consent.requested"))
        ticket = await page(api, "/console/engineer/tickets/T-1001")
        assert "waits for the customer" in ticket
        assert 'name="reason"' not in ticket
        cancelled = await api.client.post(found[1], data={"csrf": csrf}, headers=origin(api))
        assert cancelled.status == 200
        assert "cancelled" in await cancelled.text()

    async def test_not_offered_where_consent_cannot_help(self, api: Api) -> None:
        """An EEA engineer who may work the ticket gets no ask form."""
        await sign_in(api, "eng-de-1", "engineer")
        assert 'name="reason"' not in await page(api, "/console/engineer/tickets/T-1001")

    async def test_denial_offers_to_ask(self, api: Api) -> None:
        """A consent_required denial shows the ask form beside the reasons."""
        csrf = await sign_in(api, "eng-us-1", "engineer")
        answer = await open_form(api, "T-1001", csrf, mode="view")
        assert answer.status == 403
        assert "Ask for consent" in await answer.text()

    async def test_bad_duration_names_the_field(self, api: Api) -> None:
        """A duration outside a minute to seven days is a 400 naming ``duration``."""
        csrf = await sign_in(api, "eng-us-1", "engineer")
        answer = await api.client.post(
            "/console/engineer/tickets/T-1001/consent-requests",
            data={"csrf": csrf, "duration": str(8 * 86400), "reason": "x"}, headers=origin(api),
        )  # fmt: skip
        assert answer.status == 400
        assert "duration" in await answer.text()
