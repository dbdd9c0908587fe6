"""Audit throughput: events per second through allowlist, redaction and the hash chain.

A benchmark, not a test: it reports, it asserts nothing. A realistic mix of
session lifecycle events (UUID session ids, a pool of tickets, staff and
source IPs, denials with reasons, blocked egress, 1 in 200 carrying a phone
number or email in a ticket id) goes through ``Auditor.emit`` into a real
chain on disk, fsync per batch of 256 as in production.

Goal (issue 6): at least 20,000 events per second on one core. The best of a
few runs is reported: other processes on a small machine only ever slow a run
down. ``cold_events_per_s`` is the first run, before pseudonym caches are warm;
``events_per_cpu_s`` counts this process's CPU time only (fsync waits excluded),
a steadier figure on a busy machine.

Run: ``python -m benchmarks.audit`` (one process, one thread, so one core).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker.audit import Auditor, ChainConfig, verify_region
from broker.audit.keys import FileSecretSource
from broker.clock import SystemClock

GOAL_EVENTS_PER_S = 20_000.0
EVENTS = 50_000
REGIONS = ("eu-central-1", "eu-west-1", "us-east-1")


def workload(count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """``count`` events as ``(type, region, fields)``, built before timing starts."""
    events: list[tuple[str, str, dict[str, Any]]] = []
    expires = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        session = str(uuid.UUID(int=i * 7919 + 1))
        ticket = f"INC{i % 2000:07d}"
        if i % 200 == 0:
            ticket = f"T-{i} caller +49 30 {901820 + i} / ops{i}@example.com"
        common = {"session_id": session, "ticket_id": ticket, "org_id": f"org-{i % 50}",
                  "staff_id": f"staff-{i % 200}", "source_ip": f"192.0.2.{i % 250}"}  # fmt: skip
        kind = i % 5
        if kind == 0:
            events.append(("session.requested", REGIONS[i % 3], {**common, "scope": "product"}))
        elif kind == 1:
            events.append(("session.issued", REGIONS[i % 3], {
                **common, "basis": "scc", "staff_country": "IN", "expires_at": expires,
                "cert_serial": i, "user_agent": "Mozilla/5.0", "name": "dropped"}))  # fmt: skip
        elif kind == 2:
            events.append(("session.connected", REGIONS[i % 3], {**common, "target": "db-1"}))
        elif kind == 3:
            events.append(
                (
                    "session.denied",
                    REGIONS[i % 3],
                    {**common, "reasons": ["staff_country_not_permitted", "consent_missing"]},
                )
            )
        else:
            events.append(("session.closed", REGIONS[i % 3], {
                **common, "reason": "expired", "bytes_in": i, "bytes_out": 2 * i}))  # fmt: skip
    return events


def _rate(auditor: Auditor, events: list[tuple[str, str, dict[str, Any]]]) -> tuple[float, float]:
    """Events per wall-clock second and per CPU second of this process."""
    start, cpu = time.perf_counter(), time.process_time()
    for event_type, region, fields in events:
        auditor.emit(event_type, region=region, **fields)
    auditor.flush()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return len(events) / wall, len(events) / max(cpu, 1e-9)


def run(count: int = EVENTS, repeat: int = 3) -> dict[str, object]:
    """Emit ``count`` events ``repeat`` times into one trail; report the best rate."""
    events = workload(count)
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        auditor = Auditor(state, SystemClock(), config=ChainConfig(batch_size=256))
        rates = [_rate(auditor, events) for _ in range(repeat)]
        auditor.close()
        secrets = FileSecretSource(state, create=False)
        intact = all(verify_region(state, region, secrets).ok for region in REGIONS)
    best = max(wall for wall, _ in rates)
    return {
        "benchmark": "audit.Auditor.emit (allowlist + redaction + chain, fsync per 256)",
        "events": count,
        "repeat": repeat,
        "events_per_s": round(best),
        "events_per_cpu_s": round(max(cpu for _, cpu in rates)),
        "cold_events_per_s": round(rates[0][0]),
        "goal_events_per_s": GOAL_EVENTS_PER_S,
        "meets_goal": best >= GOAL_EVENTS_PER_S,
        "chain_verified": intact,
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
