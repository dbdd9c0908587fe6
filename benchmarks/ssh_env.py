"""Shared pieces of the data-plane benchmarks: the environment and its helpers.

``Env`` holds one run's processes and credentials (target sshd, bastion sshd,
``broker run``); the helpers spawn OpenSSH clients, read until a marker and
turn samples into table rows. The parts live in ``ssh_paths`` (speed against
OpenSSH) and ``ssh_hold`` (memory and sessions held).
"""

from __future__ import annotations

import asyncio
import resource
import shlex
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncssh

from benchmarks import sshd
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
    viewer: str = ""
    """The benchmark region's viewer origin (``endpoints.json`` ``viewers``)."""

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


def summary(samples: list[float]) -> dict[str, float]:
    """Median, min and max of a sample list."""
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def row(metric: str, samples: list[float], baseline: float | None, goal: str, met: bool) -> Row:
    """One table row; ``ratio`` is broker median over baseline."""
    stats = summary(samples)
    ratio = stats["median"] / baseline if baseline else None
    return {"metric": metric, **stats, "n": len(samples), "baseline": baseline,
            "ratio": ratio, "goal": goal, "met": met}  # fmt: skip


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
