"""The local demo target: a loopback SSH server giving a real bash on a PTY.

In local mode ``broker run`` starts one per region, so the whole path
(engineer -> regional gateway -> target) can be tried with no AWS. It is
clearly a demo: the MOTD and prompt say so, it binds loopback only, and it
trusts only the keys it is given (the gateway's client key).

It is not a sandbox: the shell runs as the broker's own OS user, though with
a fresh environment (no broker secrets inherited) and its own HOME.

Layout under ``home_dir`` (``<state>/regions/<region>/demo-target``):
``host_key`` (0600, created on first use, reused after) and ``home/``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from broker.demo.shell import PtyShell, ShellSpec
from broker.demo.user import ShellAccount
from broker.errors import ConflictError, InputError, UnavailableError
from broker.keys import make_private_dir, read_or_create_secret_file
from broker.models import Target
from broker.state import check_region
from broker.typing import OrgId, Region, TargetName

HOST_KEY_FILE = "host_key"
HOME_DIR = "home"
README_FILE = "README-demo.txt"

_LOGIN_TIMEOUT = 30.0
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")

_README = """\
DEMO TARGET for region {region} -- not a customer system.

The broker started this small SSH server on 127.0.0.1 so that a support
session can be tried end to end without AWS:

    engineer's ssh -> regional gateway -> this demo target

This directory is the demo shell's HOME. The shell runs as the same
operating-system user as the broker: it is a demonstration, not a sandbox.
Do not put real data here.
"""

_PROFILE = """\
# Written by the broker's demo target at every start; edits are overwritten.
[ -f ~/.bashrc ] && . ~/.bashrc
PS1='{user}@demo-{region}:\\w\\$ '
"""


def check_loopback(host: str) -> str:
    """``host`` if it is a literal IPv4 loopback address, else InputError."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise InputError("host", "must be a literal loopback address") from None
    if address.version != 4 or not address.is_loopback:
        raise InputError("host", "the demo target binds IPv4 loopback only")
    return host


def _parse_keys(lines: Sequence[str]) -> frozenset[bytes]:
    """The public-key blobs of OpenSSH public-key lines; refuses an empty set."""
    if isinstance(lines, str) or not lines:
        raise InputError("authorized_keys", "must list at least one public key")
    try:
        return frozenset(asyncssh.import_public_key(line).public_data for line in lines)
    except (asyncssh.KeyImportError, TypeError, ValueError):
        raise InputError("authorized_keys", "not an OpenSSH public key") from None


def _new_host_key() -> bytes:
    """A fresh Ed25519 private key in OpenSSH format."""
    return bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))


HOME_FILES = (README_FILE, ".bash_profile")
"""What the broker writes into the demo HOME (``demo_user.give_home`` hands them over)."""


def _prepare_home(home: Path, region: Region, user: str) -> None:
    """Create the demo HOME with its README and a prompt naming the demo host."""
    make_private_dir(home)
    texts = (_README.format(region=region), _PROFILE.format(user=user, region=region))
    for name, text in zip(HOME_FILES, texts, strict=True):
        _write_fresh(home / name, text)


def _write_fresh(path: Path, text: str) -> None:
    """Replace ``path`` with a new file, never following a link left in its place.

    The HOME belongs to the demo shell's user, who may have swapped the file
    for a symlink to one of root's; writing through it would overwrite that."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


@dataclass(slots=True)
class _Live:
    """What ``stop()`` must close and wait for."""

    conns: set[asyncssh.SSHServerConnection] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class _DemoServer(asyncssh.SSHServer):
    """Public-key auth against a fixed key set; session channels only."""

    def __init__(self, user: str, allowed: frozenset[bytes], spec: ShellSpec, live: _Live) -> None:
        self._user = user
        self._allowed = allowed
        self._spec = spec
        self._live = live
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Track the connection so ``stop()`` can close it."""
        self._conn = conn
        self._live.conns.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection."""
        if self._conn is not None:
            self._live.conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        """Authentication is always required."""
        return True

    def public_key_auth_supported(self) -> bool:
        """Public keys are the only method offered."""
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Only the configured login name, only with an authorized key."""
        return username == self._user and key.public_data in self._allowed

    def session_requested(self) -> PtyShell:
        """Each session channel gets its own PTY shell."""
        return PtyShell(self._spec, self._live.tasks)

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        """Refused with a clear reason: no ``-L``, ``-D``, ``-W`` or jump hosting."""
        raise asyncssh.ChannelOpenError(
            asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "port forwarding is disabled"
        )

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        """Refused: no ``-R``."""
        return False


class DemoTarget:
    """A demo target host for one region: loopback SSH, bash on a PTY.

    ``home_dir`` is the demo target's own folder,
    ``<state>/regions/<region>/demo-target``: it holds ``host_key`` and the
    shell's HOME, ``home/``. ``authorized_keys`` are OpenSSH public-key lines
    (the gateway's client key); only they may log in, as ``user``.
    """

    def __init__(
        self,
        region: str,
        home_dir: str | os.PathLike[str],
        authorized_keys: Sequence[str],
        *,
        user: str = "support",
        account: ShellAccount | None = None,
    ) -> None:
        self.region = check_region(region)
        if not _USER.fullmatch(user):
            raise InputError("user", "must be a plain login name")
        self.user = user
        self._allowed = _parse_keys(authorized_keys)
        bash = shutil.which("bash")
        if bash is None:
            raise UnavailableError("demo_shell_missing", "bash is not installed")
        base = Path(home_dir)
        secret = read_or_create_secret_file(base / HOST_KEY_FILE, _new_host_key)
        self._host_key = asyncssh.import_private_key(secret)
        self._spec = ShellSpec(bash, base / HOME_DIR, user, self.region, account)
        _prepare_home(self._spec.home, self.region, user)
        self._live = _Live()
        self._server: asyncssh.SSHAcceptor | None = None
        self._host = "127.0.0.1"
        self._port = 0

    @property
    def home(self) -> Path:
        """The demo shell's HOME directory."""
        return self._spec.home

    @property
    def host(self) -> str:
        """The loopback address it listens on."""
        return self._host

    @property
    def port(self) -> int:
        """The port it listens on; ConflictError before ``start()``."""
        if self._server is None:
            raise ConflictError("demo_target_stopped", "the demo target is not running")
        return self._port

    @property
    def host_key_openssh(self) -> str:
        """The public host key as one OpenSSH line, for the inventory's ``host_key``."""
        return self._host_key.export_public_key("openssh").decode("ascii").strip()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host`` (IPv4 loopback only) and ``port`` (0: ephemeral)."""
        check_loopback(host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError("port", "must be 0-65535")
        if self._server is not None:
            raise ConflictError("demo_target_running", "the demo target is already running")
        self._server = await asyncssh.create_server(
            lambda: _DemoServer(self.user, self._allowed, self._spec, self._live),
            host,
            port,
            server_host_keys=[self._host_key],
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            sftp_factory=None,
            login_timeout=_LOGIN_TIMEOUT,
        )
        self._host, self._port = host, self._server.get_port()
        return self._port

    async def stop(self) -> None:
        """Stop listening, drop every connection, and reap every shell."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        conns = list(self._live.conns)
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()
        await server.wait_closed()
        # Hang-ups run as tasks; a task may add no others, so one pass suffices.
        await asyncio.gather(*list(self._live.tasks), return_exceptions=True)

    def target_record(self, org_id: str, name: str) -> Target:
        """The inventory entry pointing at this demo target (it must be running)."""
        return Target(
            org_id=OrgId(org_id),
            name=TargetName(name),
            region=self.region,
            host=self.host,
            port=self.port,
            user=self.user,
            host_key=self.host_key_openssh,
        )
