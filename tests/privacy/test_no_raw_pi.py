"""No raw phone number or email in any log line, audit record or API error body.

Hypothesis generates phone numbers in many national and international formats
and email addresses, and embeds them in every input the running product
accepts: import bodies (ticket and target fields), unknown field names, ids in
paths, request headers, error-provoking values, and text the target host prints
during a real session. Afterwards nothing raw may appear in the captured log,
the audit segments, or the error bodies. (Text a session legitimately shows
stays in the region-bound recording, so recordings are not checked here.)
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import urllib.parse
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.auth.local import LocalAuthority
from broker.cli import main
from broker.runtime.root import Runtime
from tests.privacy.strategies import emails, phone_numbers, raw_forms

secrets_ = st.one_of(phone_numbers(), emails)


async def _poke(api: str, token: str, secret: str) -> list[str]:
    """Send the secret through every API input; return every error body."""
    quoted = urllib.parse.quote(secret, safe="")
    headers = {"Authorization": f"Bearer {token}", "User-Agent": secret, "X-Request-Id": secret}
    bodies: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as http:
        calls = [
            (
                "POST",
                "/v1/import",
                {"tickets": [{"id": "T-1", "org_id": "acme-de", "severity": 2, secret: 1}]},
            ),
            (
                "POST",
                "/v1/import",
                {
                    "targets": [
                        {
                            "org_id": "acme-de",
                            "name": secret,
                            "region": "eu-central-1",
                            "host": secret,
                        }
                    ]
                },
            ),
            ("POST", "/v1/import", {"staff": [{"id": "x", "country": secret}]}),
            (
                "POST",
                "/v1/sessions",
                {"ticket_id": secret, "target": "app-1", "public_key": secret},
            ),
            ("GET", f"/v1/sessions/{quoted}", None),
            ("GET", f"/v1/sessions?ticket_id={quoted}&{quoted}=1", None),
            ("PATCH", f"/v1/tickets/{quoted}", {"status": secret}),
        ]
        for method, path, body in calls:
            async with http.request(method, api + path, json=body) as response:
                bodies.append(await response.text())
    return bodies


def _shell_prints(command: str, secret: str) -> bytes:
    """A real session in which the target host prints the secret; its output."""
    argv = shlex.split(command)
    script = f"echo {shlex.quote(secret)}; exit\n"
    done = subprocess.run([*argv[:-1], "-o", "BatchMode=yes", argv[-1]], input=script.encode(),
                          capture_output=True, timeout=60, check=False)  # fmt: skip
    return done.stdout


async def _recorded(state: Path, secret: str) -> bool:
    """Whether a recording in eu-central-1 shows the secret (closing flushes it)."""
    for _ in range(100):
        files = state.glob("regions/eu-central-1/recordings/*.cast")
        if any(secret.encode() in path.read_bytes() for path in files):
            return True
        await asyncio.sleep(0.1)
    return False


class TestNoRawPersonalData:
    """Property: whatever PI goes in, none comes out raw outside the recording."""

    @settings(
        max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(secret=secrets_)
    async def test_pi_never_leaks(
        self, running: Runtime, capfd: pytest.CaptureFixture[str], secret: str
    ) -> None:
        """Inputs and screen text carrying PI leave no raw trace in logs, audit or errors."""
        state = running.config.state_dir
        token = LocalAuthority.from_state(state, clock=running.clock).mint_token("admin-1", "admin")
        bodies = await _poke(running.api_url, token, secret)
        argv = ["session", "open", "--ticket", "T-1001", "--target", "app-1", "--as", "eng-de-1"]
        await asyncio.to_thread(main, argv)
        command = capfd.readouterr().out.strip().splitlines()[-1]
        screen = await asyncio.to_thread(_shell_prints, command, secret)
        assert secret.encode() in screen  # the engineer does see it: viewing is allowed
        running.auditor.flush()  # type: ignore[union-attr]
        logs = capfd.readouterr()
        audit = b"".join(p.read_bytes() for p in Path(state).glob("regions/*/audit/*/*"))
        for raw in raw_forms(secret):
            assert raw not in logs.out + logs.err
            assert raw.encode() not in audit
            assert all(raw not in body for body in bodies)
        assert any(json.loads(b).get("status") == 400 for b in bodies)
        assert await _recorded(Path(state), secret)  # ... and it stays in the region's recording
