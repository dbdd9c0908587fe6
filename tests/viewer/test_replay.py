"""Replaying a recording in its region's viewer, against the real runtime.

A view session runs on the demo target (a clipboard write blocked, some
output, then ``exit``); its recording is then replayed through a link from
the real API, driven with the page's protocol. What the replay shows is read
from the server's own view (the browser test compares its pixels).
"""

from __future__ import annotations

from typing import Any

import pytest

from broker.models import Session
from broker.viewer.replay import ReplaySession
from broker.viewer.snapshots import SUFFIX
from tests.cli.test_walkthrough import cli
from tests.viewer.live_env import EU, PageClient, ViewerEnv, until, until_screen_has
from tests.viewer.test_watch import onlooker_link, view_text

pytestmark = pytest.mark.ssh


async def replay_link(
    env: ViewerEnv, session: Session, who: str = "ops-1", role: str = "ops", org: str | None = None
) -> str:
    """A replay link from the real API."""
    return await onlooker_link(env, session, "replay", who, role, org)


async def recorded(env: ViewerEnv) -> Session:
    """A finished view session: a blocked OSC 52, two marked lines, then exit."""
    session = await env.open_session()
    page = await env.page(await env.link(session))
    await page.control("ready")
    await page.send("input", data="printf '\\033]52;c;%s\\007early-%s\\n' aGk= $((4*4))\r")
    await until_screen_has(env.runtime, session.id, "early-16")
    await page.send("input", data="sleep 1; echo late-$((5*5))\r")
    await until_screen_has(env.runtime, session.id, "late-25")
    await page.send("input", data="exit\r")
    await page.control("end")
    await until(lambda: bool(env.events.of("session.closed")))
    return session


def replay_of(env: ViewerEnv) -> ReplaySession:
    """The one replay the EU viewer is serving (tests only: found through the page task)."""
    (found,) = env.runtime.viewers[EU].replays
    return found


def shown(replay: ReplaySession) -> str:
    """The replay's screen as text (tests only; the page gets pixels)."""
    return view_text(replay.view)


async def position(page: PageClient, **expected: Any) -> dict[str, Any]:
    """The next ``position`` message matching ``expected``."""
    while True:
        found = await page.control("position")
        if all(found[k] == v for k, v in expected.items()):
            return found


class TestReplay:
    """A recording replayed in its region's viewer."""

    async def test_timeline_seek_and_play(self, env: ViewerEnv) -> None:
        """The timeline has the OSC 52, resize and close markers as kinds; seeking to the
        end shows the last output, back to 0 the empty screen, and playing at 8x ends."""
        session = await recorded(env)
        page = await env.page(await replay_link(env, session))
        await page.control("ready")
        timeline = await page.control("timeline")
        kinds = [m["kind"] for m in timeline["markers"]]
        assert "egress_blocked:osc52" in kinds
        assert kinds[-1] == "closed:shell_exited"
        assert "aGk=" not in repr(timeline)
        replay = replay_of(env)
        await page.send("seek", ms=timeline["duration_ms"])
        await position(page, ms=timeline["duration_ms"])
        assert "late-25" in shown(replay)
        await page.send("seek", ms=0)
        await position(page, ms=0)
        assert "early-16" not in shown(replay)
        osc = next(m for m in timeline["markers"] if m["kind"] == "egress_blocked:osc52")
        await page.send("seek", ms=osc["ms"])
        await position(page, ms=osc["ms"])
        assert "late-25" not in shown(replay)
        await page.send("speed", percent=800)
        await page.send("play")
        await position(page, playing=False, ms=timeline["duration_ms"])
        assert "late-25" in shown(replay)

    async def test_keys_refused_and_audited(self, env: ViewerEnv) -> None:
        """Keys are read_only; start and end are audited with the viewer's id."""
        session = await recorded(env)
        page = await env.page(await replay_link(env, session))
        await page.control("ready")
        await page.send("input", data="x")
        assert (await page.control("error"))["code"] == "read_only"
        (started,) = env.events.of("viewer.replay_started")
        assert (started["actor"], started["role"], started["session_id"]) == (
            "ops-1",
            "ops",
            session.id,
        )
        await page.ws.close()
        await until(lambda: bool(env.events.of("viewer.replay_ended")))

    async def test_snapshots_kept_beside_the_recording(self, env: ViewerEnv) -> None:
        """Opening a replay leaves the snapshots beside the recording, in its region."""
        session = await recorded(env)
        page = await env.page(await replay_link(env, session))
        await page.control("ready")
        folder = env.runtime.config.layout.recordings(EU)
        assert (folder / f"{session.id}.cast{SUFFIX}").is_file()

    async def test_customer_admin_of_the_org_may_replay_another_may_not(
        self, env: ViewerEnv
    ) -> None:
        """The org's admin gets a link; another org's admin gets 404."""
        session = await recorded(env)
        page = await env.page(
            await replay_link(env, session, "cust-1", "customer_admin", "acme-de")
        )
        await page.control("timeline")
        headers = {
            "Authorization": "Bearer "
            + env.authority.mint_token("cust-2", "customer_admin", "bank-de")
        }
        url = f"{env.runtime.api_url}/v1/sessions/{session.id}/replay"
        async with env.http.post(url, headers=headers) as response:
            assert response.status == 404

    async def test_session_without_recording(self, env: ViewerEnv) -> None:
        """A session that never started has no recording: the page is told so."""
        session = await env.open_session()
        page = await env.page(await replay_link(env, session))
        assert (await page.control("error"))["code"] == "no_recording"

    async def test_cli_view_prints_a_working_link(
        self, env: ViewerEnv, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``broker recording view ID`` prints a replay link that opens the timeline."""
        session = await recorded(env)
        token = env.authority.mint_token("ops-1", "ops", None)
        status, out, _ = await cli(capsys, "recording", "view", session.id, "--token", token)
        assert status == 0
        page = await env.page(out.strip().splitlines()[-1])
        await page.control("timeline")
