"""``broker recording show|play`` over a state folder, without a running broker."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from broker.cli import main
from tests.recording.test_recorder import REGION, make_session, make_store

OSC52 = b"\x1b]52;c;c2VjcmV0\x07"
US = "us-east-1"  # outside the EEA: its recordings may be played anywhere
BROKER = Path(sys.executable).parent / "broker"


def old_recording(state: Path, session_id: str = "s-old", region: str = REGION) -> Path:
    """A recording whose output still holds an OSC 52 clipboard write (as if unfiltered)."""
    recorder = make_store(state, region).open(make_session(session_id, region))
    recorder.start("xterm", 80, 24)
    recorder.output(b"hello " + OSC52 + b"world\r\n")
    recorder.marker("egress.blocked osc52 offset=6 length=20")
    recorder.input(b"exit\r")
    recorder.close("shell_exited")
    return recorder.path


class TestShow:
    """``broker recording show``."""

    def test_prints_ids_and_markers(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The text names the session's ids, region, status and every marker."""
        old_recording(tmp_path)
        assert main(["recording", "show", "s-old", "--state", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        started = "2026-11-25T10:00:00+00:00"
        for expected in ("s-old", REGION, "org-de", "T-1001", "eng-de-1", "80x24 xterm", started):
            assert expected in out
        assert "status       closed: shell_exited" in out
        assert "egress.blocked osc52 offset=6 length=20" in out
        assert "markers (2):" in out

    def test_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``--json`` prints the summary as one JSON document."""
        old_recording(tmp_path)
        assert main(["recording", "show", "s-old", "--state", str(tmp_path), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["events"] == {"o": 1, "m": 2, "i": 1}
        assert data["final"] == "closed: shell_exited"
        assert data["region"] == REGION

    def test_missing(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An unknown session is a one-line error and status 2."""
        assert main(["recording", "show", "nope", "--state", str(tmp_path)]) == 2
        assert capsys.readouterr().err == "broker: error: no recording for this session\n"

    def test_other_region(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``--region`` limits the search to that region's folder."""
        old_recording(tmp_path)
        status = main(
            ["recording", "show", "s-old", "--state", str(tmp_path), "--region", "us-east-1"]
        )
        assert status == 2
        assert "no recording" in capsys.readouterr().err

    def test_header_of_other_region(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A recording whose header names another region than its folder is refused."""
        path = old_recording(tmp_path)
        text = path.read_text(encoding="utf-8").replace(
            '"region": "eu-central-1"', '"region": "us-east-1"'
        )
        path.write_text(text, encoding="utf-8")
        assert main(["recording", "show", "s-old", "--state", str(tmp_path)]) == 2
        assert "another region" in capsys.readouterr().err


class TestPlay:
    """``broker recording play`` replays through the egress filter."""

    def test_osc52_never_reaches_terminal(
        self, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """The clipboard write is cut; the text around it is shown; stderr counts it."""
        old_recording(tmp_path, region=US)
        assert (
            main(["recording", "play", "s-old", "--state", str(tmp_path), "--max-wait", "0"]) == 0
        )
        captured = capsysbinary.readouterr()
        assert captured.out == b"hello world\r\n"
        assert b"1 sequence(s) removed" in captured.err

    def test_in_a_real_terminal(self, tmp_path: Path) -> None:
        """Run as a command on a pty: exit 0, text shown, no OSC 52 on the wire."""
        old_recording(tmp_path, region=US)
        command = " ".join(
            shlex.quote(a)
            for a in (
                str(BROKER),
                "recording",
                "play",
                "s-old",
                "--state",
                str(tmp_path),
                "--speed",
                "100",
            )
        )
        done = subprocess.run(
            ["script", "-qec", command, "/dev/null"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            start_new_session=True,
            env={**os.environ, "BROKER_STATE": str(tmp_path)},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert b"hello world" in done.stdout
        assert b"]52;" not in done.stdout

    @pytest.mark.parametrize("option", [["--speed", "0"], ["--speed", "x"], ["--max-wait", "-1"]])
    def test_bad_options(self, tmp_path: Path, option: list[str]) -> None:
        """Speed must be positive and the pause cap non-negative."""
        with pytest.raises(SystemExit) as caught:
            main(["recording", "play", "s-old", "--state", str(tmp_path), *option])
        assert caught.value.code == 2

    def test_missing(self, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        """Nothing is written to the terminal for an unknown session."""
        assert main(["recording", "play", "nope", "--state", str(tmp_path)]) == 2
        assert capsysbinary.readouterr().out == b""


class TestInRegionOnly:
    """``play`` never prints the text of a recording whose region keeps it."""

    def test_eea_refused(self, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
        """An EEA region's recording: status 2, nothing on the terminal, the replay named."""
        old_recording(tmp_path)
        assert main(["recording", "play", "s-old", "--state", str(tmp_path)]) == 2
        captured = capsysbinary.readouterr()
        assert captured.out == b""
        assert b"stays in its region" in captured.err
        assert b"replay" in captured.err

    def test_config_policy_decides(
        self, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """``--config``'s policy says which regions are EEA: a US region mapped to DE is kept."""
        old_recording(tmp_path, region=US)
        config = tmp_path / "broker.toml"
        config.write_text('[policy.regions]\n"us-east-1" = "DE"\n', encoding="utf-8")
        args = ["recording", "play", "s-old", "--state", str(tmp_path), "--config", str(config)]
        assert main(args) == 2
        assert capsysbinary.readouterr().out == b""


class TestExport:
    """``broker recording export`` asks the API for a legal-hold copy."""

    def test_needs_a_hold(self, tmp_path: Path) -> None:
        """``--hold`` is required."""
        with pytest.raises(SystemExit) as caught:
            main(["recording", "export", "s-old", "--state", str(tmp_path)])
        assert caught.value.code == 2
