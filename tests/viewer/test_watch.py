"""Read-only watchers of a live view session, against the real runtime.

Ops and the ticket org's customer admin take a watch link from the real API
and open it at the region's viewer with the page's protocol; the engineer's
page is another client. What the engineer's screen shows (watchers, in the
status bar) is read from the server's own view, which is what its pixels are
rendered from (the browser test compares those pixels).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from broker.models import Session
from broker.store.base import ImportBundle
from broker.typing import OrgId
from broker.viewer.live import PAUSED_BANNER, WAITING_BANNER, ViewerSession
from broker.viewer.terminal import TerminalView
from broker.viewer.watch import READ_ONLY_BANNER
from tests.cli.test_walkthrough import cli
from tests.viewer.live_env import EU, US, PageClient, ViewerEnv, until, until_screen_has

pytestmark = pytest.mark.ssh

WATCHERS = [("ops-1", "ops", None), ("cust-1", "customer_admin", "acme-de")]


async def watch_link(env: ViewerEnv, session: Session, who: str, role: str, org: str | None) -> str:
    """A watch link from the real API for ``who``."""
    return await onlooker_link(env, session, "watch", who, role, org)


async def onlooker_link(
    env: ViewerEnv, session: Session, action: str, who: str, role: str, org: str | None
) -> str:
    """A ``watch`` or ``replay`` link from the real API for ``who``."""
    headers = {"Authorization": f"Bearer {env.authority.mint_token(who, role, org)}"}
    url = f"{env.runtime.api_url}/v1/sessions/{session.id}/{action}"
    async with env.http.post(url, headers=headers) as response:
        assert response.status == 201, await response.text()
        answer: dict[str, Any] = await response.json()
    return str(answer["viewer_url"])


def live_of(env: ViewerEnv, session: Session) -> ViewerSession:
    """The session's live state in the EU viewer."""
    return env.runtime.viewers[EU].sessions[session.id]


def watched_text(live: ViewerSession, index: int = 0) -> str:
    """A watcher's own screen as text (tests only: the page gets its pixels)."""
    return view_text(live.watchers._all[index].view)


def view_text(view: TerminalView) -> str:
    """A server-side view's screen as text (tests only: pages get its pixels)."""
    screen = view._screen
    cols, rows = view.size
    return "\n".join(
        "".join(screen.view_line(y, 0)[x].data if x in screen.view_line(y, 0) else " "
                for x in range(cols)).rstrip()
        for y in range(rows)
    )  # fmt: skip


async def engineer_page(env: ViewerEnv) -> tuple[Session, PageClient]:
    """An engineer's live view session with its page attached and echoing."""
    session = await env.open_session()
    page = await env.page(await env.link(session))
    await page.control("ready")
    await page.send("input", data="echo before-$((40+2))\r")
    await until_screen_has(env.runtime, session.id, "before-42")
    return session, page


class TestWatch:
    """Watching a live view session."""

    @pytest.mark.parametrize(("who", "role", "org"), WATCHERS)
    async def test_watcher_sees_the_screen_and_is_named(
        self, env: ViewerEnv, who: str, role: str, org: str | None
    ) -> None:
        """The watcher's page gets the screen as it is, then new output; the engineer's
        status bar names the watcher; join and leave are audited with the watcher's id."""
        session, engineer = await engineer_page(env)
        watcher = await env.page(await watch_link(env, session, who, role, org))
        ready = await watcher.control("ready")
        assert (ready["cols"], ready["rows"]) == (80, 24)
        await watcher.frame()
        live = live_of(env, session)
        assert "before-42" in watched_text(live)
        assert live.view._watchers == (who,)
        assert live.watchers._all[0].view._banner == READ_ONLY_BANNER
        await engineer.send("input", data="echo after-$((40+3))\r")
        await until(lambda: "after-43" in watched_text(live))
        (started,) = env.events.of("viewer.watch_started")
        assert (started["actor"], started["session_id"]) == (who, session.id)
        await watcher.ws.close()
        await until(lambda: bool(env.events.of("viewer.watch_ended")))
        (ended,) = env.events.of("viewer.watch_ended")
        assert (ended["actor"], ended["reason"]) == (who, "page_closed")
        assert live.view._watchers == ()

    async def test_keys_of_a_watcher_go_nowhere(self, env: ViewerEnv) -> None:
        """A watcher's keys and paste are answered read_only and never reach the target."""
        session, engineer = await engineer_page(env)
        watcher = await env.page(await watch_link(env, session, "ops-1", "ops", None))
        await watcher.control("ready")
        await watcher.send("input", data="echo typed-by-$((1+1))-watcher\r")
        assert (await watcher.control("error"))["code"] == "read_only"
        await watcher.send("paste", data="echo pasted-by-watcher\r")
        assert (await watcher.control("error"))["code"] == "read_only"
        await engineer.send("input", data="echo engineer-$((2+3))\r")
        screen = await until_screen_has(env.runtime, session.id, "engineer-5")
        assert "typed-by-2" not in screen
        assert "pasted-by-watcher" not in screen
        assert env.events.of("viewer.paste") == []

    async def test_several_watchers(self, env: ViewerEnv) -> None:
        """Ops and the customer admin at once: both named; one leaving leaves the other."""
        session, _ = await engineer_page(env)
        pages = [await env.page(await watch_link(env, session, *w)) for w in WATCHERS]
        for page in pages:
            await page.control("ready")
        live = live_of(env, session)
        assert live.view._watchers == ("cust-1", "ops-1")
        await pages[0].ws.close()
        await until(lambda: live.view._watchers == ("cust-1",))

    async def test_session_end_tells_watchers(self, env: ViewerEnv) -> None:
        """A revoked session ends the watchers' pages too, with the same reason; audited."""
        session, _ = await engineer_page(env)
        watcher = await env.page(await watch_link(env, session, "ops-1", "ops", None))
        await watcher.control("ready")
        await env.revoke(session)
        assert (await watcher.control("end"))["reason"] == "revoked"
        await watcher.closed()
        (ended,) = env.events.of("viewer.watch_ended")
        assert ended["reason"] == "session_ended"

    async def test_watch_link_is_single_use(self, env: ViewerEnv) -> None:
        """A watch link used twice is refused the second time."""
        session, _ = await engineer_page(env)
        url = await watch_link(env, session, "ops-1", "ops", None)
        first = await env.page(url)
        await first.control("ready")
        second = await env.page(url)
        assert (await second.control("error"))["code"] == "token_used"

    async def test_watcher_cannot_start_a_session(self, env: ViewerEnv) -> None:
        """A session the engineer has not opened yet: the watcher is told, nothing starts."""
        session = await env.open_session()
        watcher = await env.page(await watch_link(env, session, "ops-1", "ops", None))
        assert (await watcher.control("error"))["code"] == "not_started"
        await watcher.closed()
        assert session.id not in env.runtime.viewers[EU].sessions
        assert env.events.of("session.connected") == []


async def require_watch(env: ViewerEnv, org_id: str = "acme-de") -> None:
    """Switch the org's ``require_watch`` on in the runtime's store."""
    store = env.runtime.store
    assert store is not None
    org = await store.get_org(OrgId(org_id))
    await store.import_bundle(ImportBundle(orgs=[dataclasses.replace(org, require_watch=True)]))


class TestRequireWatch:
    """An org's require_watch holds an EEA session until its customer admin watches."""

    async def test_waits_for_the_customer_admin_and_pauses_when_they_leave(
        self, env: ViewerEnv
    ) -> None:
        """Input is held (read as refused) with the waiting banner; ops watching does not
        release it; the customer admin does; their leaving pauses it again."""
        await require_watch(env)
        session = await env.open_session()
        engineer = await env.page(await env.link(session))
        await engineer.control("ready")
        live = live_of(env, session)
        assert live.view._banner == WAITING_BANNER
        await engineer.send("input", data="echo held-$((1+1))\r")
        assert (await engineer.control("error"))["code"] == "waiting_for_watcher"
        ops = await env.page(await watch_link(env, session, "ops-1", "ops", None))
        await ops.control("ready")
        assert live.view._banner == WAITING_BANNER
        admin = await env.page(await watch_link(env, session, *WATCHERS[1]))
        await admin.control("ready")
        assert live.view._banner is None
        await engineer.send("input", data="echo released-$((1+1))\r")
        screen = await until_screen_has(env.runtime, session.id, "released-2")
        assert "held-2" not in screen
        await admin.ws.close()
        await until(lambda: live.view._banner == PAUSED_BANNER)
        await engineer.send("input", data="echo paused\r")
        assert (await engineer.control("error"))["code"] == "waiting_for_watcher"

    async def test_off_by_default(self, env: ViewerEnv) -> None:
        """Without the setting the engineer types at once and no banner shows."""
        session, _ = await engineer_page(env)
        assert live_of(env, session).view._banner is None

    async def test_not_outside_the_eea(self, env: ViewerEnv) -> None:
        """The setting holds EEA sessions only: a US org's session never waits."""
        await require_watch(env, "shop-us")
        session = await env.open_session("eng-us-1", "T-2001")
        page = await env.page(await env.link(session))
        await page.control("ready")
        assert env.runtime.viewers[US].sessions[session.id].view._banner is None
        await page.send("input", data="echo free-$((2+2))\r")
        await until_screen_has(env.runtime, session.id, "free-4", US)


async def cli_watch(
    env: ViewerEnv, capsys: pytest.CaptureFixture[str], who: str, org: str
) -> tuple[Session, tuple[int, str, str]]:
    """An engineer's session, and ``broker session watch`` of it by ``org``'s admin ``who``."""
    session, _ = await engineer_page(env)
    token = env.authority.mint_token(who, "customer_admin", org)
    return session, await cli(capsys, "session", "watch", session.id, "--token", token)


class TestWatchCli:
    """``broker session watch ID`` prints a working read-only link."""

    async def test_customer_admin_link_works(
        self, env: ViewerEnv, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The README's command for the org's admin prints a link that joins as a watcher."""
        session, (status, out, _) = await cli_watch(env, capsys, "cust-1", "acme-de")
        assert status == 0
        url = out.strip().splitlines()[-1]
        assert url.startswith(env.viewer() + "/#t=")
        page = await env.page(url)
        await page.control("ready")
        assert live_of(env, session).view._watchers == ("cust-1",)

    async def test_other_orgs_admin_refused(
        self, env: ViewerEnv, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Another org's admin: a one-line error, no link."""
        _, (status, out, err) = await cli_watch(env, capsys, "cust-2", "bank-de")
        assert status == 2
        assert "unknown session" in err
        assert "#t=" not in out
