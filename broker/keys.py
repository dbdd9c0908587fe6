"""The key-storage seam: secret bytes by name, scoped to one region.

A region's signing keys must stay in that region, so every secret is addressed
by ``(region, name)``. ``KeyStore`` is the one async interface;
``LocalKeyStore`` keeps secrets under ``<state>/regions/<region>/ca/`` and the
AWS issue adds a Secrets Manager implementation behind the same contract.

The contract is *create-only*: ``put`` never replaces an existing secret, it
returns whichever secret won. Two processes creating a region's CA at the same
moment therefore end up signing with the same key, and a key once issued from
can never be silently swapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from broker.errors import InputError, UnavailableError
from broker.state import StateLayout
from broker.typing import Region

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SECRET_MAX = 64 * 1024
FILE_MODE = 0o600
DIR_MODE = 0o700


class KeyStore(Protocol):
    """Secret bytes by name, scoped to one region; create-only."""

    async def get(self, region: Region, name: str) -> bytes | None:
        """The stored secret, or None when there is none yet."""
        ...

    async def put(self, region: Region, name: str, secret: bytes) -> bytes:
        """Store ``secret`` unless one exists; return the secret now stored.

        Never overwrites: when another writer got there first, its secret is
        returned and ``secret`` is discarded.
        """
        ...


async def get_or_create(
    store: KeyStore, region: Region, name: str, make: Callable[[], bytes]
) -> bytes:
    """The secret ``name`` of ``region``, creating it with ``make()`` on first use."""
    existing = await store.get(region, name)
    if existing is not None:
        return existing
    return await store.put(region, name, make())


def check_name(name: str) -> str:
    """``name`` if it is a safe secret name (lower-case, no path separators)."""
    if not _NAME.fullmatch(name):
        raise InputError("name", "secret names are 1-64 of [a-z0-9_.-]")
    return name


class LocalKeyStore:
    """Secrets as files: ``<state>/regions/<region>/ca/<name>``, mode 0600, dir 0700."""

    def __init__(self, state: Path) -> None:
        self._state = Path(state)

    def path(self, region: Region, name: str) -> Path:
        """Where the secret ``name`` of ``region`` lives."""
        return StateLayout(self._state).ca(region) / check_name(name)

    async def get(self, region: Region, name: str) -> bytes | None:
        """Read the secret file, or None when absent."""
        return await asyncio.to_thread(read_secret_file, self.path(region, name))

    async def put(self, region: Region, name: str, secret: bytes) -> bytes:
        """Create the secret file exclusively; return the file's contents."""
        return await asyncio.to_thread(create_secret_file, self.path(region, name), secret)


def read_secret_file(path: Path) -> bytes | None:
    """The file's bytes, or None if missing; refuses files others can read.

    Like OpenSSH with private keys, a key file open to group or others is
    treated as compromised rather than used: fail closed.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise UnavailableError("key_unreadable", "key file cannot be read") from error
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode) or mode & 0o077:
            raise UnavailableError("key_insecure", "key file is not a private regular file")
        data = handle.read(_SECRET_MAX + 1)
    if not data or len(data) > _SECRET_MAX:
        raise UnavailableError("key_invalid", "key file is empty or too large")
    return data


def create_secret_file(path: Path, secret: bytes) -> bytes:
    """Write ``secret`` to ``path`` unless it exists; return what ``path`` holds.

    The secret is written in full to a private temporary file, then hard-linked
    into place: ``link`` fails when the target exists (unlike ``rename``), so the
    first writer wins and no reader ever sees a half-written key.
    """
    if not secret or len(secret) > _SECRET_MAX:
        raise InputError("secret", "must be 1 byte to 64 KiB")
    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        # The loser of a creation race keeps the winner's key.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    stored = read_secret_file(path)
    if stored is None:  # pragma: no cover - only if someone deletes it in between
        raise UnavailableError("key_vanished", "key file disappeared while being created")
    return stored


def make_private_dir(directory: Path) -> None:
    """Create ``directory`` (and parents) and make the leaf 0700 whatever the umask."""
    directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(directory, DIR_MODE)


def read_or_create_secret_file(path: Path, make: Callable[[], bytes]) -> bytes:
    """The secret at ``path``, created with ``make()`` on first use (race-safe)."""
    existing = read_secret_file(path)
    if existing is not None:
        return existing
    return create_secret_file(path, make())
