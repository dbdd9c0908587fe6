"""The dispatcher: back-off with jitter, the give-up bounds, and faults it must survive."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from broker.config.notify import DeliveryPolicy
from broker.errors import UnavailableError
from broker.events import MemorySink
from broker.notify.dispatch import Dispatcher, Outcome, backoff, random_fraction
from broker.notify.payload import consent_requested
from tests.notify.conftest import NOTICE, SleepLog

AGAIN = Outcome(ok=False, reason="server_error", status=503, retry=True)


def message():
    return consent_requested(NOTICE, "d-1", SleepLog().now())


class Script:
    """An attempt answering from a list, counting calls."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self, _message) -> Outcome:
        self.calls += 1
        return self.outcomes.pop(0)


async def run(policy, attempt, clock, events=None, jitter=lambda: 1.0):
    dispatcher = Dispatcher("test", policy, events or MemorySink(), clock, jitter)
    dispatcher.submit(message(), attempt)
    await dispatcher.wait()
    return dispatcher


class TestBackoff:
    """Full jitter under an exponential ceiling, capped."""

    @given(attempt=st.integers(1, 60), fraction=st.floats(0, 1, exclude_max=True))
    def test_within_the_capped_ceiling(self, attempt, fraction):
        """Every delay is in ``[0, min(max_delay, first * 2**(n-1))]``."""
        policy = DeliveryPolicy(first_delay_seconds=0.5, max_delay_seconds=300)
        delay = backoff(policy, attempt, fraction)
        assert 0 <= delay <= min(300, 0.5 * 2 ** (attempt - 1))

    async def test_the_ceiling_doubles_until_the_cap(self, clock):
        """With the jitter at its top, the pauses are 1, 2, 4, 8, then capped at 10."""
        policy = DeliveryPolicy(max_attempts=6, max_delay_seconds=10)
        await run(policy, Script(*[AGAIN] * 6), clock, jitter=lambda: 1.0)
        assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0]

    def test_the_jitter_is_a_fraction(self):
        """The CSPRNG fraction is in ``[0, 1)``, and not constant."""
        draws = {random_fraction() for _ in range(64)}
        assert all(0 <= d < 1 for d in draws)
        assert len(draws) > 1


class TestGivingUp:
    """A delivery ends: delivered, refused, out of attempts or out of time."""

    async def test_out_of_time_before_out_of_attempts(self, clock):
        """``give_up_after_seconds`` 10 with pauses 4, 8: the third try never starts."""
        policy = DeliveryPolicy(max_attempts=50, first_delay_seconds=4, give_up_after_seconds=10)
        events = MemorySink()
        attempt = Script(*[AGAIN] * 50)
        await run(policy, attempt, clock, events)
        assert attempt.calls == 2
        assert clock.sleeps == [4.0]
        assert [e["will_retry"] for e in events.of("notify.failed")] == [True, False]

    async def test_a_final_outcome_is_not_retried(self, clock):
        """``retry=False``: one attempt, no sleep."""
        attempt = Script(Outcome(ok=False, reason="rejected", status=400))
        await run(DeliveryPolicy(), attempt, clock)
        assert (attempt.calls, clock.sleeps) == (1, [])


class TestFaults:
    """Neither a channel's bug nor an unwritable trail escapes the background task."""

    async def test_a_crashing_attempt_is_a_final_internal_error(self, clock):
        """An exception from the channel ends the delivery, audited ``internal_error``."""

        async def crash(_message):
            raise RuntimeError("bug")

        events = MemorySink()
        with capture_logs():
            await run(DeliveryPolicy(), crash, clock, events)
        [failed] = events.of("notify.failed")
        assert (failed["reason"], failed["will_retry"]) == ("internal_error", False)

    async def test_an_unwritable_trail_is_logged_not_raised(self, clock):
        """``audit_unavailable`` from the sink: the delivery still ends, and the log says so."""

        class Refusing(MemorySink):
            def emit(self, event, /, *, region, **fields):
                raise UnavailableError("audit_unavailable", "trail refuses writes")

        with capture_logs() as logs:
            dispatcher = await run(
                DeliveryPolicy(), Script(Outcome(ok=True, reason="ok")), clock, Refusing()
            )
        assert dispatcher.pending == 0
        assert any(line["event"] == "notification outcome not audited" for line in logs)


class TestQueue:
    """The messages held in memory are bounded."""

    @pytest.mark.parametrize("max_pending", [1, 3])
    async def test_max_pending_bounds_what_is_held(self, clock, max_pending):
        """Beyond ``max_pending`` held messages, each further one is refused at once."""
        events = MemorySink()
        dispatcher = Dispatcher("test", DeliveryPolicy(max_pending=max_pending), events, clock)
        for _ in range(max_pending + 2):
            dispatcher.submit(message(), Script(Outcome(ok=True, reason="ok")))
        assert dispatcher.pending == max_pending
        await dispatcher.wait()
        assert len(events.of("notify.failed")) == 2
        assert len(events.of("notify.delivered")) == max_pending
