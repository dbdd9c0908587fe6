"""The broker killed with SIGKILL mid-session (a real ``broker run`` and a real ``ssh``).

The recording is kept and marked incomplete, the session is closed at the next
start, and ``broker audit verify`` passes: the crash's unanchored tail is
disclosed by an ``audit.tail_sealed`` event before it is sealed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.broker_process import BrokerProcess, Shell

REGION = "eu-central-1"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    """A broker process on a fresh state folder; its whole group is gone after the test."""
    process = BrokerProcess(tmp_path / "state", tmp_path / "home")
    process.start()
    yield process
    process.kill_group()


class TestSigkillMidSession:
    """``kill -9`` of ``broker run`` while an engineer's shell is open."""

    def test_recording_kept_session_closed_and_trail_verifies(self, broker: BrokerProcess) -> None:
        """Kill, restart, stop: incomplete recording, closed session, verify exit 0."""
        opened = broker.cli("session", "open", "--ticket", "T-1001", "--target", "app-1",
                            "--as", "eng-de-1")  # fmt: skip
        assert opened.returncode == 0, opened.stderr
        session_id = opened.stdout.split()[1]
        shell = Shell(opened.stdout.strip().splitlines()[-1], broker.env)
        try:
            shell.type("echo before-the-kill-$((6*7))\n")
            assert shell.shows("before-the-kill-42")
            broker.kill()
            assert shell.ended(), "the shell outlived its gateway"
        finally:
            shell.close()
        broker.start()
        ops = broker.cli("token", "--subject", "ops-1", "--role", "ops").stdout.strip()
        shown = broker.cli("recording", "show", session_id, "--json")
        state = broker.cli("session", "show", session_id, "--token", ops, "--json")
        assert broker.stop() == 0
        assert shown.returncode == 0, shown.stdout + shown.stderr
        recording = json.loads(shown.stdout)
        assert recording["final"] == "incomplete"
        assert json.loads(state.stdout)["state"] == "closed"
        verify = broker.cli("audit", "verify", "--region", REGION)
        assert verify.returncode == 0, verify.stdout
        assert f"{REGION}/main: ok (" in verify.stdout
