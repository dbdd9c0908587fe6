"""The clock seam: wall time may be stepped, monotonic time only grows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from broker.clock import FakeClock, SystemClock

START = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


class TestFakeClock:
    """``advance`` is time passing; ``jump`` is the wall clock being set."""

    def test_advance_moves_both(self) -> None:
        """Ten seconds pass on the wall and on the monotonic clock."""
        clock = FakeClock(START)
        clock.advance(10)
        assert (clock.now() - START).total_seconds() == clock.monotonic() == 10

    @pytest.mark.parametrize("step", [-3600, 3600])
    def test_jump_moves_the_wall_clock_only(self, step: int) -> None:
        """A step either way leaves the monotonic clock where it was."""
        clock = FakeClock(START)
        clock.advance(5)
        clock.jump(step)
        assert (clock.now() - START).total_seconds() == 5 + step
        assert clock.monotonic() == 5

    def test_time_does_not_pass_backwards(self) -> None:
        """A negative ``advance`` is a mistake: ``jump`` says what is meant."""
        with pytest.raises(ValueError, match="jump"):
            FakeClock(START).advance(-1)


class TestSystemClock:
    """The real clock."""

    def test_monotonic_never_decreases(self) -> None:
        """Successive readings never go down."""
        clock = SystemClock()
        readings = [clock.monotonic() for _ in range(1000)]
        assert readings == sorted(readings)
