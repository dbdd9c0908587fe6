"""Prometheus text-format metrics, kept in process (no client library needed).

Counters for grants and denials by reason, and a latency histogram per route.
Labels are codes and route templates only, never ids or personal data.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from typing import Any

BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    """Cumulative-bucket latency histogram."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, seconds: float) -> None:
        """Add one observation."""
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1

    def add(self, other: dict[str, Any]) -> None:
        """Add another histogram's ``counts``, ``total`` and ``n`` (same buckets)."""
        self.counts = [a + b for a, b in zip(self.counts, other["counts"], strict=True)]
        self.total += other["total"]
        self.n += other["n"]


class Metrics:
    """The broker's counters and histograms."""

    def __init__(self) -> None:
        self.grants: Counter[str] = Counter()
        self.denials: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.latency: dict[str, Histogram] = {}

    def granted(self, region: str) -> None:
        """Count one issued session."""
        self.grants[region] += 1

    def denied(self, reasons: list[str]) -> None:
        """Count one denial under each of its reason codes."""
        self.denials.update(reasons)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency."""
        self.requests[(method, route, status)] += 1
        self.latency.setdefault(route, Histogram()).observe(seconds)

    def snapshot(self) -> dict[str, Any]:
        """Every count as JSON-ready data, for summing across API processes."""
        return {
            "grants": dict(self.grants),
            "denials": dict(self.denials),
            "requests": [[*key, n] for key, n in self.requests.items()],
            "latency": {
                route: {"counts": h.counts, "total": h.total, "n": h.n}
                for route, h in self.latency.items()
            },
        }

    @classmethod
    def summed(cls, snapshots: Iterable[dict[str, Any]]) -> Metrics:
        """One registry holding the sum of several processes' ``snapshot()``s."""
        total = cls()
        for snap in snapshots:
            total.grants.update(snap["grants"])
            total.denials.update(snap["denials"])
            for method, route, status, n in snap["requests"]:
                total.requests[(method, route, status)] += n
            for route, hist in snap["latency"].items():
                total.latency.setdefault(route, Histogram()).add(hist)
        return total

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4)."""
        lines = _counter("broker_sessions_granted_total", "Sessions issued.", "region", self.grants)
        lines += _counter(
            "broker_sessions_denied_total", "Denials by reason.", "reason", self.denials
        )
        lines += self._render_requests() + self._render_latency()
        return "\n".join(lines) + "\n"

    def _render_requests(self) -> list[str]:
        lines = [
            "# HELP broker_http_requests_total HTTP requests.",
            "# TYPE broker_http_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            labels = f'method="{method}",route="{route}",status="{status}"'
            lines.append(f"broker_http_requests_total{{{labels}}} {n}")
        return lines

    def _render_latency(self) -> list[str]:
        name = "broker_http_request_duration_seconds"
        lines = [f"# HELP {name} HTTP request latency.", f"# TYPE {name} histogram"]
        for route, hist in sorted(self.latency.items()):
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), hist.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'{name}_bucket{{route="{route}",le="{le}"}} {cumulative}')
            lines.append(f'{name}_sum{{route="{route}"}} {hist.total}')
            lines.append(f'{name}_count{{route="{route}"}} {hist.n}')
        return lines


def _counter(name: str, help_text: str, label: str, values: Counter[str]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
    lines += [f'{name}{{{label}="{key}"}} {n}' for key, n in sorted(values.items())]
    return lines
