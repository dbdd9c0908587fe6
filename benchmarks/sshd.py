"""Loopback SSH servers for the benchmarks: a target sshd, a bastion sshd, an echo target.

The sshd configs are complete (nothing read from ``/etc/ssh``), pin the one
cipher every path uses, and raise the connection limits so hundreds of
sessions can be held. ``EchoTarget`` is an in-process asyncssh server whose
"shell" echoes input: it holds thousands of PTY sessions without thousands of
processes, for the gateway's concurrency benchmark. Copied in spirit from
``tests/fixtures/sshd.py`` so benchmarks do not depend on the test tree.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

SSHD = "/usr/sbin/sshd"
CIPHER = "aes128-gcm@openssh.com"

CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/ssh_host_ed25519_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
PrintMotd no
PrintLastLog no
AllowTcpForwarding {forwarding}
X11Forwarding no
Ciphers {cipher}
MaxStartups 4000:30:8000
MaxSessions 10
LoginGraceTime 60
LogLevel ERROR
"""


@dataclass(frozen=True)
class Sshd:
    """A running sshd: where it listens, its host key, who may log in."""

    port: int
    host_key: str
    user: str
    process: subprocess.Popen[bytes]
    host: str = "127.0.0.1"


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("sshd exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("sshd did not start listening")


def start_sshd(directory: Path, authorized_keys: Sequence[str], *, bastion: bool = False) -> Sshd:
    """Write config, host key and authorized keys into ``directory``; start sshd."""
    directory.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation needs it
    key = directory / "ssh_host_ed25519_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
        check=True,
        capture_output=True,
    )
    (directory / "authorized_keys").write_text("".join(k.strip() + "\n" for k in authorized_keys))
    port = free_port()
    config = directory / "sshd_config"
    forwarding = "yes" if bastion else "no"
    config.write_text(CONFIG.format(port=port, dir=directory, forwarding=forwarding, cipher=CIPHER))
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_listening(port, process)
    host_key = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    return Sshd(port, host_key, getpass.getuser(), process)


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
