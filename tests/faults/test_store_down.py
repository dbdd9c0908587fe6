"""The store unreachable: the API answers 503 and the gateways refuse new logins.

The broker runs in-process (``Runtime``), a session is granted, then its store
goes away under it. Every part that needs the store fails closed with a reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request

import pytest

from broker.audit import AuditQuery
from broker.runtime.root import Runtime
from broker.typing import Region
from tests.cli.test_walkthrough import cli, open_session_command
from tests.faults.broker_process import Shell

REGION = Region("eu-central-1")


def get(url: str) -> tuple[int, dict[str, object]]:
    """GET ``url``: status and JSON body, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class TestStoreUnreachable:
    """The SQLite store closed under a running broker."""

    async def test_api_503_and_gateway_refuses_login(
        self, running: Runtime, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Health and grants answer 503; an issued certificate no longer logs in."""
        command = await open_session_command(capsys)
        assert running.store is not None
        await running.store.close()
        status, body = await asyncio.to_thread(get, running.api_url + "/healthz")
        assert status == 503
        assert body["code"] == "store_closed"
        code, _, err = await cli(capsys, "session", "open", "--ticket", "T-1001",
                                 "--target", "app-1", "--as", "eng-de-1")  # fmt: skip
        assert code != 0
        assert "store" in err
        shell = Shell(command, dict(os.environ))
        assert await asyncio.to_thread(shell.ended)
        shell.close()
        assert shell.process.returncode == 255  # ssh: authentication refused
        assert running.auditor is not None
        failed = running.auditor.query(REGION, AuditQuery(event="auth.failed")).records
        assert [r["reason"] for r in failed] == ["store_unavailable"]
