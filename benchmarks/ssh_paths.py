"""The data plane against OpenSSH: gateway vs ``ssh -J`` bastion vs direct sshd.

One environment per run, all on 127.0.0.1: a target sshd, a bastion sshd,
``broker run`` in its own process (local mode, no demo targets, the target
imported through the API) and, for the concurrency benchmark, an in-process
echo target. Every path uses the same cipher (``sshd.CIPHER``). Parts:

- ``throughput``: bulk PTY output, ``head -c N /dev/zero | tr '\\0' a`` typed
  into an interactive shell (exec is refused by the gateway), MB/s;
- ``latency``: one keystroke, wait for its echo, p50/p99 over 1,000 samples per run;
- ``open``: grant + connect to a running shell, against ``ssh -J`` to a shell;
- ``revocation``: ``DELETE /v1/sessions/{id}`` until the ssh client exits;
- ``memory`` and ``concurrency`` (in ``ssh_hold``): broker RSS per idle session
  against sshd per connection, and PTY sessions held by one gateway at once;
- ``viewer_latency`` and ``viewer_hold`` (in ``viewer_live``): the region's browser
  viewer in the same broker, keystroke to frame beside ``ssh -J`` echo.

Run: ``python -m benchmarks.ssh_paths [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncssh

from benchmarks import sshd
from benchmarks.grants import start_broker
from benchmarks.ssh_env import (
    REGION,
    TIMEOUT,
    Env,
    Row,
    client_options,
    echo_samples,
    finish,
    import_target,
    raise_fd_limit,
    read_until,
    row,
    spawn_shell,
)
from benchmarks.ssh_hold import concurrency, memory
from benchmarks.viewer_live import viewer_hold, viewer_latency
from broker.auth.local import LocalAuthority
from broker.clock import SystemClock
from broker.gateway.keys import load_gateway_keys


async def throughput_once(env: Env, path: str, size: int) -> float:
    """MB/s of PTY output for one run of ``size`` bytes on ``path``."""
    login, cert = "", None
    if path == "gateway":
        login, cert, _ = await env.grant()
    process = await spawn_shell(env.argv(path, login, cert))
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(f"echo GO-$((2+2)); head -c {size} /dev/zero | tr '\\0' a; exit\n".encode())
    await read_until(process.stdout, b"GO-4")
    started = time.perf_counter()
    while await asyncio.wait_for(process.stdout.read(1 << 20), TIMEOUT):
        pass
    elapsed = time.perf_counter() - started
    await finish(process)
    return size / elapsed / 1e6


async def throughput(env: Env, runs: int) -> list[Row]:
    """Bulk PTY output: gateway vs ``ssh -J`` vs direct, interleaved runs."""
    size = 50_000_000 if runs >= 5 else 20_000_000
    results: dict[str, list[float]] = {"gateway": [], "jump": [], "direct": []}
    for _ in range(runs):
        for path, samples in results.items():
            samples.append(await throughput_once(env, path, size))
    jump = statistics.median(results["jump"])
    direct = statistics.median(results["direct"])
    gateway = statistics.median(results["gateway"])
    return [
        row("bulk PTY output MB/s (vs ssh -J)", results["gateway"], jump, ">= 0.8x ssh -J",
            gateway >= 0.8 * jump),
        row("bulk PTY output MB/s (vs direct sshd)", results["gateway"], direct, "(info)", True),
    ]  # fmt: skip


ECHO_SAMPLES = 1000
"""Keystrokes per run and path: enough that p99 is not just the second-worst one."""


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def latency(env: Env, runs: int) -> list[Row]:
    """Keystroke echo latency, gateway vs ``ssh -J``; per run p50 and p99."""
    p50s: dict[str, list[float]] = {"gateway": [], "jump": []}
    p99s: dict[str, list[float]] = {"gateway": [], "jump": []}
    for _ in range(runs):
        for path, medians in p50s.items():
            samples = await echo_samples(env, path, ECHO_SAMPLES)
            medians.append(statistics.median(samples))
            p99s[path].append(_p99(samples))
    jump50, jump99 = statistics.median(p50s["jump"]), statistics.median(p99s["jump"])
    added99 = statistics.median(p99s["gateway"]) - jump99
    return [
        row("keystroke echo p50 ms", p50s["gateway"], jump50, "(info)", True),
        row("keystroke echo p99 ms", p99s["gateway"], jump99, "p99 adds <= 2 ms", added99 <= 2.0),
    ]


async def open_once(env: Env, path: str) -> float:
    """Seconds from asking (grant, for the gateway) to a shell that ran a command."""
    started = time.perf_counter()
    login, cert = "", None
    if path == "gateway":
        login, cert, _ = await env.grant()
    process = await spawn_shell(env.argv(path, login, cert))
    elapsed = time.perf_counter() - started
    await finish(process)
    return elapsed * 1000


async def session_open(env: Env, runs: int) -> list[Row]:
    """Grant + connect to a shell, against ``ssh -J`` connect to a shell (ms)."""
    results: dict[str, list[float]] = {"gateway": [], "jump": []}
    for _ in range(max(runs, 5) * 2):
        for path, samples in results.items():
            samples.append(await open_once(env, path))
    jump = statistics.median(results["jump"])
    met = statistics.median(results["gateway"]) <= 1.5 * jump
    return [row("session open ms (grant + shell)", results["gateway"], jump, "<= 1.5x ssh -J", met)]


async def revoke_once(env: Env) -> float:
    """Seconds from the revoke call to the ssh client's exit."""
    session_id, cert, _ = await env.grant()
    process = await spawn_shell(env.argv("gateway", session_id, cert))
    started = time.perf_counter()
    await env.revoke(session_id)
    try:
        await asyncio.wait_for(process.wait(), 10)
    finally:
        await finish(process)
    return time.perf_counter() - started


async def revocation(env: Env, runs: int) -> list[Row]:
    """Revocation to TCP close (client exit), p99 over several revocations (ms)."""
    samples = [await revoke_once(env) * 1000 for _ in range(max(runs, 5) * 4)]
    p99 = max(samples) if len(samples) < 100 else _p99(samples)
    result = row("revocation to close ms (median; max as p99)", samples, None, "p99 <= 1000 ms",
                 p99 <= 1000)  # fmt: skip
    return [result]


PARTS: dict[str, Callable[[Env, int], Awaitable[list[Row]]]] = {
    "throughput": throughput,
    "latency": latency,
    "open": session_open,
    "memory": memory,
    "revocation": revocation,
    "concurrency": concurrency,
    "viewer_latency": viewer_latency,
    "viewer_hold": viewer_hold,
}


async def _run_parts(env: Env, parts: list[str], runs: int) -> dict[str, list[Row]]:
    results: dict[str, list[Row]] = {}
    async with aiohttp.ClientSession() as env.http:
        await import_target(
            env, "bench-sshd", env.target.port, env.target.user, env.target.host_key
        )
        for name in parts:
            try:
                results[name] = await asyncio.wait_for(PARTS[name](env, runs), 150)
            except Exception as error:  # one failed part must not stop the rest
                results[name] = [{"metric": name, "error": f"{type(error).__name__}: {error}"}]
    return results


def run(quick: bool = False, parts: list[str] | None = None) -> dict[str, object]:
    """Build the environment, run the parts, tear everything down."""
    raise_fd_limit()
    runs = 3 if quick else 5
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.chmod(tmp, 0o711)  # noqa: S103  traverse only: the demo shells reach HOME
        state = tmp / "state"
        state.mkdir(mode=0o700)
        gateway_client = load_gateway_keys(state, REGION).client_public()
        key = asyncssh.generate_private_key("ssh-ed25519")
        key_path = tmp / "id_engineer"
        key.write_private_key(key_path)
        key_path.chmod(0o600)
        public = key.export_public_key().decode().strip()
        started: list[subprocess.Popen[bytes]] = []
        try:
            target = sshd.start_sshd(tmp / "target", [gateway_client, public])
            started.append(target.process)
            bastion = sshd.start_sshd(tmp / "bastion", [public], bastion=True)
            started.append(bastion.process)
            broker = start_broker(state)
            started.append(broker)
            endpoints = json.loads((state / "endpoints.json").read_text())
            authority = LocalAuthority.from_state(state, clock=SystemClock())
            gateway_port = int(endpoints["gateways"][REGION].rsplit(":", 1)[1])
            env = Env(
                tmp, broker, endpoints["api"], gateway_port,
                authority.mint_token("eng-de-1", "engineer"),
                authority.mint_token("bench", "admin"),
                key, key_path, target, bastion, client_options(key_path),
            )  # fmt: skip
            env.viewer = endpoints["viewers"][REGION]
            results = asyncio.run(_run_parts(env, parts or list(PARTS), runs))
        finally:
            for process in reversed(started):
                sshd.stop(process)
    return {"benchmark": "ssh.paths", "cipher": sshd.CIPHER, "runs": runs, "parts": results}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
