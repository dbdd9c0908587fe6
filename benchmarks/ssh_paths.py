"""The data plane against OpenSSH: gateway vs ``ssh -J`` bastion vs direct sshd.

One environment per run, all on 127.0.0.1: a target sshd, a bastion sshd,
``broker run`` in its own process (local mode, no demo targets, the target
imported through the API) and, for the concurrency benchmark, an in-process
echo target. Every path uses the same cipher (``sshd.CIPHER``). Parts:

- ``throughput``: bulk PTY output, ``head -c N /dev/zero | tr '\\0' a`` typed
  into an interactive shell (exec is refused by the gateway), MB/s;
- ``latency``: one keystroke, wait for its echo, p50/p99 over 200 samples;
- ``open``: grant + connect to a running shell, against ``ssh -J`` to a shell;
- ``memory``: broker RSS delta per idle session, against sshd per connection;
- ``revocation``: ``DELETE /v1/sessions/{id}`` until the ssh client exits;
- ``concurrency``: PTY sessions held by one gateway at once.

Run: ``python -m benchmarks.ssh_paths [--quick]``.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncssh

from benchmarks import sshd
from benchmarks.grants import start_broker
from broker.api.auth import LocalAuthority
from broker.clock import SystemClock
from broker.gateway.keys import load_gateway_keys
from broker.typing import Region

REGION = Region("eu-central-1")
READY = b"echo READY-$((1+1))\n"
TIMEOUT = 60.0
Row = dict[str, Any]


@dataclass
class Env:
    """Everything one run touches."""

    tmp: Path
    broker: subprocess.Popen[bytes]
    api: str
    gateway_port: int
    token: str
    admin: str
    key: asyncssh.SSHKey
    key_path: Path
    target: sshd.Sshd
    bastion: sshd.Sshd
    options: list[str] = field(default_factory=list)
    http: aiohttp.ClientSession | None = None

    async def grant(self, target: str = "bench-sshd") -> tuple[str, Path, asyncssh.SSHCertificate]:
        """A session grant: its id, its certificate on disk and in memory."""
        assert self.http is not None
        body = {"ticket_id": "T-1001", "target": target, "public_key": self.public_key}
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.post(f"{self.api}/v1/sessions", json=body, headers=headers) as answer:
            document = await answer.json()
            if answer.status != 201:
                raise RuntimeError(f"grant failed: HTTP {answer.status} {document}")
        path = self.tmp / f"cert-{document['session_id']}.pub"
        path.write_text(document["certificate"] + "\n")
        return document["session_id"], path, asyncssh.import_certificate(document["certificate"])

    async def revoke(self, session_id: str) -> None:
        """Revoke a session through the API."""
        assert self.http is not None
        headers = {"Authorization": f"Bearer {self.admin}"}
        url = f"{self.api}/v1/sessions/{session_id}"
        async with self.http.delete(url, headers=headers) as answer:
            if answer.status != 200:
                raise RuntimeError(f"revoke failed: HTTP {answer.status}")

    @property
    def public_key(self) -> str:
        """The engineer's public key line."""
        return self.key.export_public_key().decode().strip()

    def argv(self, path: str, login: str = "", cert: Path | None = None) -> list[str]:
        """``ssh -tt`` to a shell on ``path``: gateway, jump or direct."""
        if path == "gateway":
            where = ["-o", f"CertificateFile={cert}", "-p", str(self.gateway_port)]
            return ["ssh", *self.options, *where, "-tt", f"{login}@127.0.0.1"]
        target = ["-p", str(self.target.port), "-tt", f"{self.target.user}@127.0.0.1"]
        if path == "direct":
            return ["ssh", *self.options, *target]
        # What ``-J`` does, spelled out so the hop gets the same options and cipher.
        hop = ["ssh", *self.options, "-W", "%h:%p", "-p", str(self.bastion.port), "127.0.0.1"]
        proxy = ["-o", f"ProxyCommand={shlex.join(hop)}"]
        return ["ssh", *self.options, *proxy, *target]

    async def connect(self, path: str) -> tuple[asyncssh.SSHClientConnection, ...]:
        """An asyncssh client connection on ``path`` (the jump path also returns the hop)."""
        common: dict[str, Any] = {
            "known_hosts": None,
            "encryption_algs": [sshd.CIPHER],
            "agent_path": None,
            "config": None,
        }
        if path == "gateway":
            session_id, _, cert = await self.grant()
            conn = await asyncssh.connect(
                "127.0.0.1", self.gateway_port, username=session_id,
                client_keys=[(self.key, cert)], **common,
            )  # fmt: skip
            return (conn,)
        keys = {"username": self.target.user, "client_keys": [self.key], **common}
        if path == "direct":
            return (await asyncssh.connect("127.0.0.1", self.target.port, **keys),)
        hop = await asyncssh.connect("127.0.0.1", self.bastion.port, **keys)
        conn = await asyncssh.connect("127.0.0.1", self.target.port, tunnel=hop, **keys)
        return conn, hop


async def read_until(stream: Any, marker: bytes, limit: float = TIMEOUT) -> bytes:
    """Read from an asyncio or asyncssh stream until ``marker``; EOF is an error."""

    async def _read() -> bytes:
        seen = b""
        while marker not in seen:
            chunk = await stream.read(65536)
            if not chunk:
                raise EOFError("stream closed before marker")
            seen = seen[-256:] + chunk
        return seen

    return await asyncio.wait_for(_read(), limit)


async def spawn_shell(argv: list[str]) -> asyncio.subprocess.Process:
    """Start ``ssh -tt`` and wait until its shell has run a command."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(READY)
    try:
        await read_until(process.stdout, b"READY-2")
    except BaseException:
        await finish(process)
        raise
    return process


async def finish(process: asyncio.subprocess.Process) -> None:
    """Make a client exit (exit typed, then kill) and reap it."""
    if process.returncode is None and process.stdin is not None:
        process.stdin.write(b"\nexit\n")
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


def summary(samples: list[float]) -> dict[str, float]:
    """Median, min and max of a sample list."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def row(metric: str, samples: list[float], baseline: float | None, goal: str, met: bool) -> Row:
    """One table row; ``ratio`` is broker median over baseline."""
    stats = summary(samples)
    ratio = stats["median"] / baseline if baseline else None
    return {"metric": metric, **stats, "n": len(samples), "baseline": baseline,
            "ratio": ratio, "goal": goal, "met": met}  # fmt: skip


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


async def echo_samples(env: Env, path: str, count: int) -> list[float]:
    """Milliseconds from one keystroke to its echo, ``count`` times, on ``path``."""
    conns = await env.connect(path)
    try:
        process = await conns[0].create_process(
            term_type="xterm", term_size=(200, 50), encoding=None
        )
        process.stdin.write(READY)
        await read_until(process.stdout, b"READY-2")
        await asyncio.sleep(0.2)
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            process.stdin.write(b"x")
            await read_until(process.stdout, b"x", 10)
            samples.append((time.perf_counter() - started) * 1000)
            process.stdin.write(b"\x7f")  # erase it again so the line never wraps
            await read_until(process.stdout, b"\x08", 10)
        return samples
    finally:
        for conn in conns:
            conn.close()


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def latency(env: Env, runs: int) -> list[Row]:
    """Keystroke echo latency, gateway vs ``ssh -J``; per run p50 and p99."""
    p50s: dict[str, list[float]] = {"gateway": [], "jump": []}
    p99s: dict[str, list[float]] = {"gateway": [], "jump": []}
    for _ in range(runs):
        for path, medians in p50s.items():
            samples = await echo_samples(env, path, 200)
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


async def import_target(env: Env, name: str, port: int, user: str, host_key: str) -> None:
    """Add a target of the demo org in the benchmark region through the API."""
    assert env.http is not None
    target = {"org_id": "acme-de", "name": name, "region": REGION, "host": "127.0.0.1",
              "port": port, "user": user, "host_key": host_key}  # fmt: skip
    headers = {"Authorization": f"Bearer {env.admin}"}
    async with env.http.post(
        f"{env.api}/v1/import", json={"targets": [target]}, headers=headers
    ) as answer:
        answer.raise_for_status()


PARTS: dict[str, Callable[[Env, int], Awaitable[list[Row]]]] = {
    "throughput": throughput,
    "latency": latency,
    "open": session_open,
    "memory": memory,
    "revocation": revocation,
    "concurrency": concurrency,
}


def raise_fd_limit() -> None:
    """Thousands of sessions need thousands of descriptors (inherited by the broker)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def client_options(key_path: Path) -> list[str]:
    """ssh options for every path: no user config, one key, one cipher."""
    options = [
        "-F", "/dev/null", "-i", str(key_path), "-c", sshd.CIPHER,
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
    ]  # fmt: skip
    if sshd.client_has_option("ObscureKeystrokeTiming=no"):
        options += ["-o", "ObscureKeystrokeTiming=no"]
    return options


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
            results = asyncio.run(_run_parts(env, parts or list(PARTS), runs))
        finally:
            for process in reversed(started):
                sshd.stop(process)
    return {"benchmark": "ssh.paths", "cipher": sshd.CIPHER, "runs": runs, "parts": results}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2, default=str))
