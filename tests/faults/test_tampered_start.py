"""A broker started on a state folder whose audit tail was forged after a clean stop.

The forged region's trail refuses every event, so nothing is granted there;
the other regions serve. The forgery is never anchored over.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import Config
from broker.runtime.root import Runtime
from tests.audit.forgery import forge_append
from tests.cli.test_walkthrough import cli


class TestForgedTailAtStart:
    """Records appended to eu-central-1's trail between a clean stop and the next start."""

    async def test_that_region_refuses_the_others_serve(
        self, state: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """EU grants fail closed (503, audit); US grants go through."""
        first = Runtime(Config(state_dir=state))
        await first.start()
        await first.stop()
        forge_append(state, 2)
        second = Runtime(Config(state_dir=state))
        await second.start()
        try:
            eu = await cli(capsys, "session", "open", "--ticket", "T-1001", "--target", "app-1",
                           "--as", "eng-de-1")  # fmt: skip
            us = await cli(capsys, "session", "open", "--ticket", "T-2001", "--target", "app-1",
                           "--as", "eng-us-1")  # fmt: skip
        finally:
            await second.stop()
        assert eu[0] != 0
        assert "audit" in eu[2]
        assert us[0] == 0, us[2]
        status, out, _ = await cli(capsys, "audit", "verify", "--region", "eu-central-1")
        assert status == 1
        assert "2 records follow the final anchor" in out
