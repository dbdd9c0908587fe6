"""The why-line."""

from __future__ import annotations

import pytest

from broker.gateway.link import WHY, why_line


class TestWhyLine:
    """One line, naming the reason."""

    @pytest.mark.parametrize("reason", sorted(WHY))
    def test_one_line(self, reason: str) -> None:
        """Each known reason renders as one terminal line."""
        line = why_line(reason)
        assert line.strip().count(b"\n") == 0
        assert WHY[reason].encode() in line
