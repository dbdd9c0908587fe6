"""Failed authentications are audited aggregated: prompt, bounded, and exactly counted."""

from __future__ import annotations

from typing import Any

from broker.auth.failures import OVERFLOW, AuthFailures
from broker.clock import FakeClock
from tests.api.conftest import START


class Recorded:
    """An emit function that keeps what it was given."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.records.append({"event": event, **fields})

    def counts(self) -> dict[tuple[str, str], int]:
        """Failures per (source, reason), summed over the records."""
        summed: dict[tuple[str, str], int] = {}
        for r in self.records:
            key = (r["source_ip"], r["reason"])
            summed[key] = summed.get(key, 0) + r["count"]
        return summed


class TestAuthFailures:
    """The aggregator on its own, with a fake clock."""

    def test_first_failure_is_audited_at_once(self) -> None:
        """A source's first failure is written immediately with count 1."""
        emit = Recorded()
        AuthFailures(emit, FakeClock(START)).failed("192.0.2.1", "token_missing", method="bearer")
        assert emit.records == [
            {"event": "auth.failed", "source_ip": "192.0.2.1", "reason": "token_missing",
             "count": 1, "interval_seconds": 60, "method": "bearer"},
        ]  # fmt: skip

    def test_rest_of_interval_is_one_record(self) -> None:
        """Later failures in the interval are one more record once it ends, counts exact."""
        emit, clock = Recorded(), FakeClock(START)
        failures = AuthFailures(emit, clock)
        for _ in range(500):
            failures.failed("192.0.2.1", "token_invalid")
        assert len(emit.records) == 1
        clock.advance(60)
        failures.flush_due()
        assert [r["count"] for r in emit.records] == [1, 499]
        failures.failed("192.0.2.1", "token_invalid")
        assert [r["count"] for r in emit.records] == [1, 499, 1]

    def test_sources_and_reasons_are_kept_apart(self) -> None:
        """Each (source, reason) pair gets its own prompt record."""
        emit = Recorded()
        failures = AuthFailures(emit, FakeClock(START))
        for source in ("192.0.2.1", "192.0.2.2"):
            for reason in ("token_missing", "token_expired", "token_missing"):
                failures.failed(source, reason)
        failures.flush()
        assert emit.counts() == {
            ("192.0.2.1", "token_missing"): 2, ("192.0.2.1", "token_expired"): 1,
            ("192.0.2.2", "token_missing"): 2, ("192.0.2.2", "token_expired"): 1,
        }  # fmt: skip

    def test_refusals_about_a_session_name_it(self) -> None:
        """A refusal about one session is counted apart and its records name the session."""
        emit = Recorded()
        failures = AuthFailures(emit, FakeClock(START))
        for session in ("s-1", "s-1", "s-2", None):
            failures.failed("192.0.2.1", "session_expired", session)
        failures.flush()
        named = [(r.get("session_id"), r["count"]) for r in emit.records]
        assert named == [("s-1", 1), ("s-2", 1), (None, 1), ("s-1", 1)]

    def test_memory_is_bounded(self) -> None:
        """Past max_sources, new sources share one overflow count; nothing is lost."""
        emit = Recorded()
        failures = AuthFailures(emit, FakeClock(START), max_sources=10)
        for i in range(1000):
            failures.failed(f"198.51.100.{i % 250}", "token_missing")
        assert failures.tracked <= 11
        failures.flush()
        assert sum(emit.counts().values()) == 1000
        assert emit.counts()[(OVERFLOW, "token_missing")] == 1000 - 10 * 4
        assert len(emit.records) <= 2 * 11
