"""Access-policy throughput: ``decide()`` calls per second on one core.

A benchmark, not a test: it reports, it asserts nothing. The request mix
covers every path (fail-closed, not-EEA, each basis, consent allowed, capped
and expired, EEA-only fallback) so the number is not one cached fast path.
Goal (issue 2): at least 100,000 decisions per second.

Run: ``python -m benchmarks.policy`` (one process, one thread, so one core).
"""

from __future__ import annotations

import json
import platform
import time
from datetime import UTC, datetime, timedelta

from broker.policy import AccessRequest, ConsentGrant, decide

GOAL_PER_SECOND = 100_000


def _mix() -> list[AccessRequest]:
    """A fixed, varied set of requests built before timing starts."""
    at = datetime(2026, 3, 27, 10, 30, tzinfo=UTC)
    later, soon, past = (at + timedelta(seconds=s) for s in (7200, 600, -1))
    cases: list[tuple[str, str, str, str, ConsentGrant | None]] = [
        ("eu-central-1", "standard", "product", "DE", None),
        ("eu-central-1", "standard", "product", "CH", None),
        ("eu-west-1", "standard", "cas", "IN", None),
        ("eu-north-1", "standard", "product", "US", ConsentGrant(later)),
        ("eu-west-3", "eea_only", "product", "US", ConsentGrant(soon)),
        ("eu-south-1", "eea_only", "product", "GB", ConsentGrant(past)),
        ("eu-south-2", "eea_only", "third_party", "PH", None),
        ("eu-west-2", "eea_only", "product", "BR", None),
        ("us-east-1", "standard", "product", "US", None),
        ("xx-nowhere-1", "standard", "product", "DE", None),
        ("eu-central-1", "eea_only", "product", "ZZ", None),
        ("eusc-de-east-1", "eea_only", "product", "NO", None),
    ]
    return [
        AccessRequest(region=r, tier=t, scope=s, staff_country=c, consent=g, at=at)
        for r, t, s, c, g in cases
    ]


def run(seconds: float = 1.0) -> dict[str, object]:
    """Decide the mix repeatedly for about ``seconds``; report decisions/second."""
    requests = _mix() * 100
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for request in requests:
            decide(request)
        count += len(requests)
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    return {
        "benchmark": "policy.decide",
        "decisions": count,
        "seconds": round(elapsed, 3),
        "decisions_per_second": round(rate),
        "goal_per_second": GOAL_PER_SECOND,
        "meets_goal": rate >= GOAL_PER_SECOND,
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
