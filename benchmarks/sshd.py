"""Loopback SSH servers for the benchmarks: a target sshd, a bastion sshd, an echo target.

The sshd launcher is the tests' (``tests/fixtures/sshd.py``: a complete config,
nothing read from ``/etc/ssh``); the benchmark settings pin the one cipher
every path uses and raise the connection limits so hundreds of sessions can
be held. ``EchoTarget`` is an in-process asyncssh server whose
"shell" echoes input: it holds thousands of PTY sessions without thousands of
processes, for the gateway's concurrency benchmark.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from tests.fixtures import sshd as fixtures
from tests.fixtures.sshd import Sshd

__all__ = [
    "CIPHER", "SETTINGS", "EchoTarget", "Sshd", "client_has_option", "descendants",
    "rss_kib", "sshd_tree_rss_kib", "start_sshd", "stop", "version",
]  # fmt: skip

CIPHER = "aes128-gcm@openssh.com"

SETTINGS = {
    "Ciphers": CIPHER,
    "MaxStartups": "4000:30:8000",
    "MaxSessions": "10",
    "LoginGraceTime": "60",
    "LogLevel": "ERROR",
}
"""Benchmark sshd: one cipher on every path, room for many connections."""


def start_sshd(directory: Path, authorized_keys: Sequence[str], *, bastion: bool = False) -> Sshd:
    """The tests' sshd launcher with benchmark settings; only a bastion forwards."""
    settings = {**SETTINGS, "AllowTcpForwarding": "yes" if bastion else "no"}
    return fixtures.start_sshd(directory, authorized_keys, settings, capture_log=False)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate one process we started (kill if it lingers)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def version() -> str:
    """The OpenSSH client's version line."""
    done = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip()


def client_has_option(option: str) -> bool:
    """Whether this ``ssh`` accepts ``-o option`` (``ssh -G`` parses without connecting)."""
    argv = ["ssh", "-F", "/dev/null", "-G", "-o", option, "127.0.0.1"]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (from /proc), not including it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def sshd_tree_rss_kib(root: int) -> int:
    """Summed RSS of the sshd processes below the listener ``root`` (shells excluded)."""
    total = 0
    for pid in descendants(root):
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("sshd"):
            total += rss_kib(pid)
    return total


class _EchoSession(asyncssh.SSHServerSession[bytes]):
    """A PTY "shell" that echoes what it is sent, like a terminal in cooked mode."""

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def pty_requested(self, *_args: object) -> bool:
        return True

    def shell_requested(self) -> bool:
        return True

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._chan.write(data)


class _EchoServer(asyncssh.SSHServer):
    def __init__(self, authorized: asyncssh.SSHAuthorizedKeys) -> None:
        self._authorized = authorized

    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return self._authorized.validate(key, "127.0.0.1", "127.0.0.1") is not None

    def session_requested(self) -> _EchoSession:
        return _EchoSession()


@dataclass
class EchoTarget:
    """An in-process asyncssh target holding PTY sessions cheaply."""

    authorized_key: str
    host_key: asyncssh.SSHKey | None = None
    server: asyncssh.SSHAcceptor | None = None
    port: int = 0

    async def start(self) -> int:
        """Listen on an ephemeral loopback port; returns it."""
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        authorized = asyncssh.import_authorized_keys(self.authorized_key + "\n")
        self.server = await asyncssh.create_server(
            lambda: _EchoServer(authorized),
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            encryption_algs=[CIPHER],
            backlog=4096,
            line_editor=False,  # building asyncssh's editor per session cost a third of the CPU
        )
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    def host_public(self) -> str:
        """The host key as an OpenSSH public-key line."""
        assert self.host_key is not None
        return self.host_key.export_public_key().decode().strip()

    async def stop(self) -> None:
        """Close the listener and every session."""
        if self.server is not None:
            self.server.close()
            await asyncio.wait_for(self.server.wait_closed(), 30)
