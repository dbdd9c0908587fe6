"""Tests for broker.cli.audit: ``broker audit verify`` and ``broker audit show``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from broker.cli import main
from broker.state import StateLayout
from tests.audit.conftest import REGION, fill


@pytest.fixture
async def trail(make_auditor, clock, state, anchors):
    """Two regions with a few events each, anchored, stopped cleanly."""
    auditor = make_auditor(anchors, batch_size=3, max_segment_records=5)
    await auditor.open([REGION, "us-east-1"])
    fill(auditor, 8)
    clock.advance(3600)
    auditor.emit("session.denied", region="us-east-1", ticket_id="T-1", reasons=["country"])
    clock.advance(60)
    auditor.emit("session.closed", region=REGION, session_id="s-3", reason="expired")
    await auditor.aclose()
    return state


class TestVerify:
    """Exit 0 when intact, 1 naming the first bad record."""

    def test_intact_trails_exit_0(self, trail, capsys):
        """Every region is checked and reported ok."""
        assert main(["audit", "verify", "--state", str(trail)]) == 0
        out = capsys.readouterr().out
        assert f"{REGION}/main: ok (9 records, head " in out
        assert "us-east-1/main: ok (1 records, head " in out

    def test_broken_trail_exits_1_naming_the_record(self, trail, capsys):
        """An edited record is named by file and line."""
        path = StateLayout(trail).audit_chain(REGION, "main") / "00000002.jsonl"
        lines = path.read_bytes().splitlines(keepends=True)
        lines[1] = lines[1].replace(b'"IN"', b'"US"')
        path.write_bytes(b"".join(lines))
        assert main(["audit", "verify", "--state", str(trail), "--region", REGION]) == 1
        assert "BROKEN at 00000002.jsonl:2: hash mismatch" in capsys.readouterr().out

    def test_json_output_and_env_state(self, trail, capsys, monkeypatch):
        """--json prints one object per region; $BROKER_STATE is the default state."""
        monkeypatch.setenv("BROKER_STATE", str(trail))
        assert main(["audit", "verify", "--region", "us-east-1", "--json"]) == 0
        (line,) = capsys.readouterr().out.splitlines()
        assert json.loads(line)["ok"] is True

    def test_bad_region_is_an_error(self, trail, capsys):
        """A malformed region is a usage error (status 2) naming the field."""
        assert main(["audit", "verify", "--state", str(trail), "--region", "../x"]) == 2
        assert "region" in capsys.readouterr().err

    def test_console_script_exit_status(self, trail):
        """The real command exits 1 on a truncated chain."""
        (StateLayout(trail).audit_chain(REGION, "main") / "00000002.jsonl").unlink()
        done = subprocess.run(
            [sys.executable, "-m", "broker", "audit", "verify", "--state", str(trail)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 1
        assert f"{REGION}/main: BROKEN at 00000002.jsonl:1: truncated" in done.stdout


class TestShow:
    """Filters, text and JSON output."""

    def test_filter_by_session_as_json(self, trail, capsys):
        """--session selects that session's records; --json prints records."""
        argv = ["audit", "show", "--state", str(trail), "--session", "s-3", "--json"]
        assert main(argv) == 0
        records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert [r["event"] for r in records] == ["session.issued", "session.closed"]

    def test_all_regions_merge_by_time(self, trail, capsys):
        """Without --region every region's records print, oldest first."""
        assert main(["audit", "show", "--state", str(trail), "--since", "2025-03-01T09:30"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert len(out) == 2
        assert "us-east-1/main #1 session.denied" in out[0]
        assert "reasons=country" in out[0]

    def test_event_and_ticket_filters(self, trail, capsys):
        """--event and --ticket combine."""
        argv = ["audit", "show", "--state", str(trail), "--region", REGION,
                "--event", "session.issued", "--ticket", "T-1"]  # fmt: skip
        assert main(argv) == 0
        (line,) = capsys.readouterr().out.splitlines()
        assert "session_id=s-1 " in line

    def test_bad_time_names_the_field(self, trail, capsys):
        """An unparsable --until is refused naming it."""
        assert main(["audit", "show", "--state", str(trail), "--until", "tomorrow"]) == 2
        assert "until" in capsys.readouterr().err
