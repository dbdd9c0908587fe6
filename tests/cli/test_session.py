"""``broker session open``'s view path: the viewer link printed, and opened on request."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from broker.cli import session as session_cli

GRANT = {
    "session_id": "0190aaaa-0000-7000-8000-000000000001",
    "region": "eu-central-1",
    "valid_before": "2026-11-25T10:15:00Z",
    "access": "view",
    "certificate": None,
}
URL = "http://127.0.0.1:9/viewer/#token"


def args(open_browser: bool) -> argparse.Namespace:
    """The parsed options ``_open_view`` reads."""
    return argparse.Namespace(open_browser=open_browser, json=False)


class TestOpenView:
    """What a view session prints, and when the browser starts."""

    @pytest.mark.parametrize("open_browser", [False, True])
    def test_prints_the_viewer_url_and_opens_only_when_asked(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        open_browser: bool,
    ) -> None:
        """The link is the last line; ``--open`` hands exactly it to ``webbrowser``."""
        opened: list[str] = []
        monkeypatch.setattr(session_cli.webbrowser, "open", lambda url: opened.append(url) or True)
        assert session_cli.open_view(args(open_browser), {**GRANT, "viewer_url": URL}) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert out[0].endswith("(view)")
        assert out[-1] == URL
        assert opened == ([URL] if open_browser else [])

    def test_browser_that_will_not_start_is_reported(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """When no browser starts, stderr says so and the link is still printed."""
        monkeypatch.setattr(session_cli.webbrowser, "open", lambda url: False)
        assert session_cli.open_view(args(True), {**GRANT, "viewer_url": URL}) == 0
        captured = capsys.readouterr()
        assert URL in captured.out
        assert "could not start a browser" in captured.err

    def test_without_viewer_url_nothing_opens(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An answer without ``viewer_url`` says so and starts no browser."""
        opened: list[Any] = []
        monkeypatch.setattr(session_cli.webbrowser, "open", opened.append)
        assert session_cli.open_view(args(True), GRANT) == 0
        assert "no viewer_url" in capsys.readouterr().out
        assert opened == []
