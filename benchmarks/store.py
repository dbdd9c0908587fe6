"""Benchmark: store calls behind one session grant, at a given concurrency.

Not a test. Each simulated grant does what ``POST /v1/sessions`` asks of the
store: read the ticket, org, staff member, target and consent in one call,
then insert the session with its certificate serial. Run:

    .venv/bin/python -m benchmarks.store [--grants 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from broker.models import Org, Staff, Target, Ticket
from broker.service.sessions import issued_session
from broker.store.base import ImportBundle
from broker.store.sqlite.store import DEFAULT_FILENAME, SqliteStore
from broker.typing import (
    CountryCode,
    OrgId,
    Region,
    StaffId,
    TargetName,
    TicketId,
)

REGION = Region("eu-central-1")
ORG = Org(OrgId("org-bench"), REGION, "standard")
STAFF = Staff(StaffId("staff-bench"), CountryCode("DE"))
TICKET = Ticket(TicketId("ticket-bench"), ORG.id, 2, "product")
TARGET = Target(ORG.id, TargetName("web"), REGION, "127.0.0.1")


async def _grant(store: SqliteStore) -> float:
    """One grant's store traffic; returns its latency in seconds."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    world = await store.grant_records(STAFF.id, TICKET.id, TARGET.name, now)
    await store.create_session(issued_session(world, "intra-eea", now, 15 * 60))
    return time.perf_counter() - started


async def _run(path: Path, grants: int, concurrency: int) -> None:
    async with SqliteStore(path) as store:
        await store.import_bundle(
            ImportBundle(orgs=[ORG], staff=[STAFF], tickets=[TICKET], targets=[TARGET])
        )
        numbers = itertools.count()
        latencies: list[float] = []

        async def client() -> None:
            while next(numbers) < grants:
                latencies.append(await _grant(store))

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    p50 = statistics.median(latencies) * 1e3
    p99 = statistics.quantiles(latencies, n=100)[98] * 1e3
    rate = grants / elapsed
    print(
        f"{grants} grants, {concurrency} concurrent: {rate:,.0f} grants/s "
        f"({2 * rate:,.0f} store calls/s), p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )


def main() -> None:
    """Parse arguments and run the benchmark on a temporary file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state:
        asyncio.run(_run(Path(state) / DEFAULT_FILENAME, args.grants, args.concurrency))


if __name__ == "__main__":
    main()
