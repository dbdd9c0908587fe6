"""Holding many sessions: memory per idle session and sessions held by one gateway.

``memory`` compares the broker's RSS growth per idle session with sshd's per
connection; ``concurrency`` opens 2,000 PTY sessions through one gateway to an
in-process echo target and reports how many it holds and its RSS per session.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import asyncssh

from benchmarks import sshd
from benchmarks.ssh_env import READY, REGION, Env, Row, import_target, read_until, row
from broker.gateway.keys import load_gateway_keys


async def open_idle(env: Env, path: str) -> tuple[asyncssh.SSHClientConnection, ...]:
    """A connection with a PTY shell that has run a command, then left idle."""
    conns = await env.connect(path)
    process = await conns[0].create_process(term_type="xterm", encoding=None)
    process.stdin.write(READY)
    await read_until(process.stdout, b"READY-2")
    return conns


async def hold(env: Env, path: str, count: int, batch: int = 10) -> list[Any]:
    """``count`` idle sessions on ``path``, opened ``batch`` at a time."""
    held: list[Any] = []
    for start in range(0, count, batch):
        jobs = [open_idle(env, path) for _ in range(min(batch, count - start))]
        held += await asyncio.gather(*jobs)
    return held


async def close_all(held: list[Any]) -> None:
    """Close every held connection and wait for them."""
    for conns in held:
        for conn in conns:
            conn.close()
    for conns in held:
        for conn in conns:
            await asyncio.wait_for(conn.wait_closed(), 10)


async def memory(env: Env, runs: int) -> list[Row]:
    """RSS per idle session: broker process delta vs sshd processes per connection (KiB)."""
    count = 50
    await close_all(await hold(env, "gateway", 5))  # warm caches and allocators first
    per_session: list[float] = []
    for _ in range(max(1, runs // 2)):
        await asyncio.sleep(1.0)
        before = sshd.rss_kib(env.broker.pid)
        held = await hold(env, "gateway", count)
        await asyncio.sleep(1.0)
        per_session.append((sshd.rss_kib(env.broker.pid) - before) / count)
        await close_all(held)
    await asyncio.sleep(2.0)  # let the gateway's target connections end
    base = sshd.sshd_tree_rss_kib(env.target.process.pid)
    held = await hold(env, "direct", count)
    await asyncio.sleep(1.0)
    per_sshd = (sshd.sshd_tree_rss_kib(env.target.process.pid) - base) / count
    await close_all(held)
    met = statistics.median(per_session) <= 0.2 * per_sshd
    return [row("RSS KiB per idle session", per_session, per_sshd, "<= 0.2x sshd", met)]


async def concurrency(env: Env, runs: int) -> list[Row]:
    """PTY sessions held at once by one gateway (to an in-process echo target)."""
    wanted, deadline = 2000, time.monotonic() + 100
    echo = sshd.EchoTarget(load_gateway_keys(env.tmp / "state", REGION).client_public())
    await echo.start()
    await import_target(env, "bench-echo", echo.port, "bench", echo.host_public())
    held: list[Any] = []
    error = ""
    before = sshd.rss_kib(env.broker.pid)
    try:
        while len(held) < wanted and time.monotonic() < deadline:
            batch = [open_echo(env) for _ in range(min(16, wanted - len(held)))]
            for outcome in await asyncio.gather(*batch, return_exceptions=True):
                if isinstance(outcome, BaseException):
                    error = error or f"{type(outcome).__name__}: {outcome}"
                else:
                    held.append(outcome)
            if error:
                break
        alive = sum(1 for (conn,) in held if not conn.is_closed())
        grown = sshd.rss_kib(env.broker.pid) - before
    finally:
        await close_all(held)
        await echo.stop()
    goal = f"(reached {alive}/{wanted}{'; ' + error[:60] if error else ''})"
    # Far more sessions than any earlier part freed, so reused memory cannot hide them.
    per_session = grown / max(alive, 1)
    return [row("sessions held by one gateway", [float(alive)], None, ">= 2000 " + goal,
                alive >= 2000),
            row("RSS KiB per session, broker at full hold", [per_session], None, "(info)",
                True)]  # fmt: skip


async def open_echo(env: Env) -> tuple[asyncssh.SSHClientConnection]:
    """One PTY session through the gateway to the echo target, proven live by an echo."""
    session_id, _, cert = await env.grant("bench-echo")
    conn = await asyncssh.connect(
        "127.0.0.1", env.gateway_port, username=session_id, client_keys=[(env.key, cert)],
        known_hosts=None, encryption_algs=[sshd.CIPHER], agent_path=None, config=None,
    )  # fmt: skip
    process = await conn.create_process(term_type="xterm", encoding=None)
    process.stdin.write(b"ping\n")
    await read_until(process.stdout, b"ping", 30)
    return (conn,)
