"""The CLI's HTTP client: what an engineer sees when the API does not answer."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from broker.cli import main


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestApiUnreachable:
    """The control plane stopped: the CLI fails with a clear 503, no traceback."""

    def test_grant_without_an_api_is_a_clear_503(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``session open`` exits 2 naming the API, 503 and the cause."""
        monkeypatch.setenv("HOME", str(tmp_path))
        api = f"http://127.0.0.1:{closed_port()}"
        status = main(["session", "open", "--ticket", "T-1001", "--target", "app-1",
                       "--token", "t", "--api", api])  # fmt: skip
        err = capsys.readouterr().err
        assert status == 2
        assert f"cannot reach the broker API (control plane) at {api}" in err
        assert "(503 unavailable: connection refused)" in err
        assert "Traceback" not in err
