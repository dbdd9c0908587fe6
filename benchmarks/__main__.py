"""``make bench``: every benchmark, one table, beside OpenSSH where there is a baseline.

Each metric is measured over several runs (at least 5, 3 with ``--quick``):
the table shows the broker's median and min-max spread, the baseline measured
in the same run, the ratio and the goal. A benchmark that fails shows
``error: ...`` in its row and the others still run. The table is printed and
written to ``bench-results.md`` in the current directory.

Run: ``python -m benchmarks [--quick] [--only NAME ...]`` where NAME is one of
``policy grants egress audit viewer replay ssh`` or ``ssh.<part>`` (``ssh.throughput``,
``ssh.latency``, ``ssh.open``, ``ssh.memory``, ``ssh.revocation``,
``ssh.concurrency``, ``ssh.viewer_latency``, ``ssh.viewer_hold``: the browser
viewer runs in the same broker as the SSH path).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from benchmarks import audit, egress, grants, policy, replay, signing, ssh_paths, sshd, viewer
from benchmarks.ssh_env import Row, row

RESULTS = Path("bench-results.md")


def bench_policy(runs: int, quick: bool) -> list[Row]:
    """Access-policy decisions per second."""
    rates = [float(policy.run(0.5 if quick else 1.0)["decisions_per_second"]) for _ in range(runs)]  # type: ignore[arg-type]
    goal = policy.GOAL_PER_SECOND
    return [
        row("policy decisions/s", rates, None, f">= {goal:,}", statistics.median(rates) >= goal)
    ]


def bench_grants(runs: int, quick: bool) -> list[Row]:
    """Grants per second and p99 flat out at 64 clients, beside raw Ed25519 signs/s;
    and, for information, p99 when 2,000 grants a second arrive on schedule."""
    raw = float(signing.run(1.0)["ed25519_signatures_per_second"])  # type: ignore[arg-type]
    reports = [grants.measure(2.0 if quick else 4.0) for _ in range(runs)]
    rates, paced, p99s = (
        [float(r[key]) for r in reports]  # type: ignore[arg-type]
        for key in ("grants_per_second", "paced_p99_ms", "p99_ms")
    )
    rate, p99 = statistics.median(rates), statistics.median(p99s)
    clients = f"64 clients, {grants.API_PROCESSES} API processes"
    return [
        row(f"sessions granted/s, {clients} (baseline: raw Ed25519 signs/s)", rates, raw,
            f">= {grants.GOAL_PER_SECOND:,}/s", rate >= grants.GOAL_PER_SECOND),
        row(f"grant p99 ms, {clients}", p99s, None, f"<= {grants.GOAL_P99_MS:g} ms",
            p99 <= grants.GOAL_P99_MS),
        row(f"grant p99 ms, {grants.GOAL_PER_SECOND:,}/s offered on schedule (from when due)",
            paced, None, "(info)", True),
    ]  # fmt: skip


def bench_egress(runs: int, quick: bool) -> list[Row]:
    """Egress filter MB/s, plain and escape-dense text."""
    size = egress.SIZE // 4 if quick else egress.SIZE
    reports = [egress.run(size, repeat=1) for _ in range(runs)]
    plain = [float(r["plain_mb_per_s"]) for r in reports]  # type: ignore[arg-type]
    dense = [float(r["dense_mb_per_s"]) for r in reports]  # type: ignore[arg-type]
    return [
        row("egress filter MB/s, plain", plain, None, f">= {egress.GOAL_PLAIN_MBPS:g}",
            statistics.median(plain) >= egress.GOAL_PLAIN_MBPS),
        row("egress filter MB/s, escape-dense", dense, None, f">= {egress.GOAL_DENSE_MBPS:g}",
            statistics.median(dense) >= egress.GOAL_DENSE_MBPS),
    ]  # fmt: skip


def bench_audit(runs: int, quick: bool) -> list[Row]:
    """Audit events per second (allowlist, redaction, hash chain)."""
    count = audit.EVENTS // 5 if quick else audit.EVENTS
    # Two passes each: the first with cold pseudonym caches (reported on its own
    # row), the second warm, as in production where ticket, staff and org ids
    # repeat across a session's events.
    reports = [audit.run(count, repeat=2) for _ in range(runs)]
    rates = [float(r["events_per_s"]) for r in reports]  # type: ignore[arg-type]
    cold = [float(r["cold_events_per_s"]) for r in reports]  # type: ignore[arg-type]
    goal = audit.GOAL_EVENTS_PER_S
    return [
        row(
            "audit events/s (warm caches)",
            rates,
            None,
            f">= {goal:,.0f}",
            statistics.median(rates) >= goal,
        ),
        row("audit events/s (cold: every id new)", cold, None, "(info)", True),
    ]


def bench_viewer(runs: int, quick: bool) -> list[Row]:
    """The in-region viewer: emulation MB/s beside plain pyte, rendering, bytes
    per echo, keystroke-to-frame p99 and memory per idle view."""
    size = viewer.SIZE // 4 if quick else viewer.SIZE
    reports = [viewer.run(size, quick) for _ in range(runs)]

    def samples(key: str) -> list[float]:
        return [r[key] for r in reports]

    def median(key: str) -> float:
        return statistics.median(samples(key))

    rss = viewer.memory(20 if quick else 50)
    mbps = viewer.GOAL_MBPS
    return [
        row("viewer emulation MB/s, plain text (baseline: plain pyte)", samples("plain_mb_per_s"),
            median("plain_pyte_mb_per_s"), f">= {mbps:g}", median("plain_mb_per_s") >= mbps),
        row("viewer emulation MB/s, SGR-dense colour (baseline: plain pyte)",
            samples("dense_mb_per_s"), median("dense_pyte_mb_per_s"), f">= {mbps:g}",
            median("dense_mb_per_s") >= mbps),
        row("viewer keystroke to frame p99 ms (in process, after idle)",
            samples("latency_p99_ms"), None, f"<= {viewer.GOAL_P99_MS:g} ms",
            median("latency_p99_ms") <= viewer.GOAL_P99_MS),
        row("viewer bytes per keystroke echo (120x40)", samples("echo_bytes"), None,
            f"<= {viewer.GOAL_ECHO_BYTES:,}", median("echo_bytes") <= viewer.GOAL_ECHO_BYTES),
        row("viewer render+encode ms per changed row (120 cols)", samples("row_ms"), None,
            "(info)", True),
        row("viewer render+encode ms per full 120x40 frame", samples("frame_ms"), None,
            "(info)", True),
        row("viewer KB per full 120x40 frame", [r["frame_bytes"] / 1e3 for r in reports], None,
            "(info)", True),
        row("viewer RSS MiB per idle view, full 1,000-line scrollback", [rss], None,
            f"<= {viewer.GOAL_RSS_MIB:g} MiB", rss <= viewer.GOAL_RSS_MIB),
    ]  # fmt: skip


def bench_soak(runs: int, quick: bool) -> list[Row]:
    """The whole-system soak (once): 200 engineers for 2 minutes, then invariants."""
    from benchmarks import soak

    report = soak.run(30.0 if quick else 120.0, 50 if quick else 200)
    print(f"soak: {report}", flush=True)
    sessions = float(report["sessions"])
    goal = "no session outlives cert/revocation; all recorded and closed; audit verifies"
    return [row("soak: sessions, every invariant held", [sessions], None, goal, bool(report["ok"]))]


def bench_ssh(parts: list[str] | None) -> Callable[[int, bool], list[Row]]:
    """The data-plane benchmarks against OpenSSH (all parts, or the ones named)."""

    def _run(runs: int, quick: bool) -> list[Row]:
        report = ssh_paths.run(quick, parts)
        return [r for rows in report["parts"].values() for r in rows]  # type: ignore[attr-defined]

    return _run


def bench_replay(runs: int, quick: bool) -> list[Row]:
    """Replay of a generated one-hour recording: seek at 10/50/100 %, frames/s at 8x;
    and the CPU one watcher adds to a busy session."""
    reports = [replay.run(quick) for _ in range(max(1, runs // 2))]

    def samples(key: str) -> list[float]:
        return [r[key] for r in reports]

    goal = replay.GOAL_SEEK_MS
    rows = [
        row(f"replay seek ms to {pct} % of a one-hour recording (incl. its frame)",
            samples(f"seek_ms_{pct}"), None, f"<= {goal:g} ms",
            statistics.median(samples(f"seek_ms_{pct}")) <= goal)
        for pct in (10, 50, 100)
    ]  # fmt: skip
    return [
        *rows,
        row("replay open s, one hour (parse + build snapshots; reopen uses them)",
            samples("open_s"), statistics.median(samples("reopen_s")), "(info)", True),
        row("replay frames/s at 8x (pump cap 30)", samples("fps_8x"), None, "(info)", True),
        row("one watcher's extra CPU, % of the engineer's view (busy session)",
            samples("watcher_cpu_pct"), None, "(info)", True),
    ]  # fmt: skip


BENCHES: dict[str, Callable[[int, bool], list[Row]]] = {
    "policy": bench_policy,
    "grants": bench_grants,
    "egress": bench_egress,
    "audit": bench_audit,
    "viewer": bench_viewer,
    "replay": bench_replay,
    "ssh": bench_ssh(None),
}


def selected(only: list[str] | None) -> dict[str, Callable[[int, bool], list[Row]]]:
    """The benchmarks ``--only`` names (all by default); ``ssh.PART`` runs one part."""
    if not only:
        return BENCHES
    chosen: dict[str, Callable[[int, bool], list[Row]]] = {}
    ssh_parts = [name.split(".", 1)[1] for name in only if name.startswith("ssh.")]
    for name in only:
        if name == "soak":
            continue
        if name in BENCHES:
            chosen[name] = BENCHES[name]
        elif not name.startswith("ssh.") or name.split(".", 1)[1] not in ssh_paths.PARTS:
            raise SystemExit(
                f"unknown benchmark {name!r}; choose from {sorted(BENCHES)} or ssh.<part>"
            )
    if ssh_parts and "ssh" not in chosen:
        chosen["ssh"] = bench_ssh(ssh_parts)
    return chosen


def fmt(value: float | None) -> str:
    """A number with about three significant digits, grouped; '-' for none."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) >= 1 else f"{value:.3f}"


def render(rows: list[Row]) -> str:
    """The markdown table."""
    lines = [
        "| metric | broker median | spread (min-max) | runs | OpenSSH / baseline | ratio "
        "| goal | met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['metric']} | error: {r['error'][:160]} | | | | | | no |")
            continue
        spread = f"{fmt(r['min'])}-{fmt(r['max'])}" if r["n"] > 1 else "-"
        lines.append(
            f"| {r['metric']} | {fmt(r['median'])} | {spread} | {r['n']} | {fmt(r['baseline'])} "
            f"| {fmt(r['ratio'])} | {r['goal']} | {'yes' if r['met'] else 'NO'} |"
        )
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    """Machine and version facts printed above the table."""
    obscure = sshd.client_has_option("ObscureKeystrokeTiming=no")
    return "\n".join([
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- cores: {os.cpu_count()}; CPU: {cpu_model()}",
        f"- Python {platform.python_version()} ({sys.executable} -> "
        f"{os.path.realpath(sys.executable)}); asyncssh {asyncssh.__version__}; {sshd.version()}",
        f"- cipher on every SSH path: {sshd.CIPHER}; ObscureKeystrokeTiming=no "
        f"{'used' if obscure else 'not supported by this ssh client (not used)'}",
    ])  # fmt: skip


def main() -> None:
    """Parse arguments, run the benchmarks, print and write the table."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="3 runs and smaller loads")
    parser.add_argument(
        "--soak", action="store_true", help="also run the 2-minute whole-system soak"
    )
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only NAME (repeatable)"
    )
    args = parser.parse_args()
    runs = 3 if args.quick else 5
    rows: list[Row] = []
    started = time.monotonic()
    benches = dict(selected(args.only))
    if args.soak or "soak" in (args.only or []):
        benches["soak"] = bench_soak
    for name, bench in benches.items():
        print(f"running {name} ...", flush=True)
        try:
            rows += bench(runs, args.quick)
        except Exception as error:  # report it in the table, run the rest
            traceback.print_exc()
            rows.append({"metric": name, "error": f"{type(error).__name__}: {error}"})
    mode = "quick" if args.quick else "full"
    text = (
        f"## Benchmark results ({mode}, {time.monotonic() - started:.0f} s)\n\n"
        f"{machine()}\n\n{render(rows)}\n"
    )
    print("\n" + text)
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
