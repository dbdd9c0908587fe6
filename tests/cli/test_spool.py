"""``broker recordings pending``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker.cli import main


def _spool(state: Path, region: str, name: str, done: bool) -> None:
    folder = state / "regions" / region / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.cast").write_bytes(b"12345")
    if done:
        (folder / f"{name}.cast.done").touch()


class TestRecordingsPending:
    """Listing the spool."""

    def test_lists_every_region(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Each pending recording is listed with its size and completeness."""
        _spool(tmp_path, "eu-central-1", "a", done=True)
        _spool(tmp_path, "us-east-1", "b", done=False)
        assert main(["recordings", "pending", "--state", str(tmp_path), "--json"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert rows == [
            {"region": "eu-central-1", "file": "a.cast", "bytes": 5, "complete": True},
            {"region": "us-east-1", "file": "b.cast", "bytes": 5, "complete": False},
        ]

    def test_one_region(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``--region`` limits the listing and prints the region's total."""
        _spool(tmp_path, "eu-central-1", "a", done=True)
        _spool(tmp_path, "us-east-1", "b", done=True)
        assert (
            main(["recordings", "pending", "--state", str(tmp_path), "--region", "us-east-1"]) == 0
        )
        out = capsys.readouterr().out
        assert "b.cast" in out
        assert "a.cast" not in out
        assert "us-east-1: 1 pending" in out

    def test_bad_region(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A malformed region is refused with status 2."""
        assert main(["recordings", "pending", "--state", str(tmp_path), "--region", "../x"]) == 2
        assert "region" in capsys.readouterr().err
