"""``broker consent request --wait --target``: denied, ask, approved, and in, in one command.

A real ``Runtime`` (what ``broker run`` starts) on loopback; the engineer's
command runs as users run it, in a thread, while the customer admin decides
over the API; the session it opens is used with the real OpenSSH client.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from broker.cli.client import ApiClient
from broker.runtime.root import Runtime
from tests.cli.test_walkthrough import cli, run_ssh

ASK = ["consent", "request", "--ticket", "T-1001", "--duration", "2h", "--as", "eng-us-1"]
REASON = ["--reason", "Export fails for jane.doe@example.com"]


async def admin(running: Runtime, capsys: pytest.CaptureFixture[str]) -> ApiClient:
    """An API client holding acme-de's customer admin token (minted by ``broker token``)."""
    status, token, _ = await cli(
        capsys, "token", "--subject", "cust-1", "--role", "customer_admin", "--org", "acme-de"
    )
    assert status == 0
    document = json.loads((running.config.state_dir / "endpoints.json").read_text())
    return ApiClient(document["api"], token.strip())


async def pending_request(api: ApiClient) -> dict[str, Any]:
    """The first pending request the admin sees, once there is one."""
    for _ in range(400):
        found = await asyncio.to_thread(api.call, "GET", "/v1/consent-requests?state=pending")
        if found["items"]:
            return dict(found["items"][0])
        await asyncio.sleep(0.05)
    raise AssertionError("no pending consent request appeared")


class TestRequestAndWait:
    """The engineer's one command, answered by the customer's admin."""

    async def test_approval_opens_the_session(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Denied first; then one command asks, waits, and prints a working ssh command."""
        status, _, err = await cli(
            capsys, "session", "open", "--ticket", "T-1001", "--target", "app-1", "--as", "eng-us-1"
        )
        assert (status, "consent_required" in err) == (2, True)
        assert "broker consent request --ticket T-1001" in err
        api = await admin(running, capsys)
        engineer = asyncio.create_task(
            cli(capsys, *ASK, *REASON, "--wait", "--target", "app-1", "--poll", "0.05")
        )
        asked = await pending_request(api)
        assert "jane.doe@example.com" not in asked["reason"]
        path = f"/v1/consent-requests/{asked['consent_request_id']}/approve"
        await asyncio.to_thread(api.call, "POST", path, {"duration_seconds": 3600})
        status, out, err = await engineer
        assert status == 0, err
        assert "approved by cust-1" in err
        command = out.strip().splitlines()[-1]
        assert command.startswith("ssh -tt ")
        done = await asyncio.to_thread(run_ssh, command, "echo consented-$((40+2))\nexit 0\n")
        assert "consented-42" in done.stdout

    async def test_denial_ends_the_wait(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A denial exits 2 and shows the admin's reason; no session is opened."""
        api = await admin(running, capsys)
        engineer = asyncio.create_task(
            cli(capsys, *ASK, *REASON, "--wait", "--target", "app-1", "--poll", "0.05")
        )
        asked = await pending_request(api)
        path = f"/v1/consent-requests/{asked['consent_request_id']}/deny"
        await asyncio.to_thread(api.call, "POST", path, {"reason": "Route it to the EEA team"})
        status, out, _ = await engineer
        assert status == 2
        assert "denied by cust-1" in out
        assert "Route it to the EEA team" in out
        assert "ssh" not in out


class TestAdminCommands:
    """``broker consent requests|approve|deny`` for the customer's admin."""

    async def test_list_and_approve(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The admin lists the pending request, approves it shorter; the engineer sees it."""
        status, out, err = await cli(capsys, *ASK, *REASON, "--json")
        assert status == 0, err
        request_id = json.loads(out)["consent_request_id"]
        api = await admin(running, capsys)
        token = ["--token", api.token or ""]
        status, out, _ = await cli(
            capsys, "consent", "requests", "--request-state", "pending", *token
        )
        assert (status, out.split()[0:2]) == (0, [request_id, "pending"])
        status, out, _ = await cli(
            capsys, "consent", "approve", request_id, "--duration", "1h", *token
        )
        assert status == 0
        assert "approved by cust-1" in out
        assert "2h asked, 1h granted" in out
        status, out, _ = await cli(capsys, "consent", "requests", "--as", "eng-us-1")
        assert f"{request_id}  approved" in out

    async def test_longer_approval_refused(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Approving for longer than asked is refused with the field named."""
        status, out, _ = await cli(capsys, *ASK, *REASON, "--json")
        request_id = json.loads(out)["consent_request_id"]
        api = await admin(running, capsys)
        status, _, err = await cli(
            capsys, "consent", "approve", request_id, "--duration", "3h", "--token", api.token or ""
        )
        assert status == 2
        assert "duration_seconds" in err
