"""Per-region audit secrets and the region folder layout they live in.

Each region has one secret. Keys for separate purposes (phone/email pseudonyms,
the seal over the chain head) are derived from it, so one rotation story covers
both. Locally the secret is ``<state>/regions/<region>/audit-key`` (mode 0600,
created on first use); a later issue moves it into AWS Secrets Manager behind
the same ``SecretSource`` protocol.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Protocol

from broker.errors import UnavailableError
from broker.state import StateLayout
from broker.typing import Region

_SECRET_BYTES = 32


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one ``purpose``, derived from a region secret (HMAC-SHA256)."""
    return hmac.new(secret, b"broker.audit/" + purpose.encode(), hashlib.sha256).digest()


class SecretSource(Protocol):
    """Where a region's audit secret comes from (local file, Secrets Manager)."""

    def secret(self, region: Region) -> bytes:
        """The region's secret bytes; raise ``UnavailableError`` if unobtainable."""
        ...


class FileSecretSource:
    """Secrets in ``<state>/regions/<region>/audit-key``, created on first use."""

    def __init__(self, state_dir: Path, *, create: bool = True) -> None:
        self._state = Path(state_dir)
        self._create = create
        self._cache: dict[str, bytes] = {}

    def secret(self, region: Region) -> bytes:
        """Read (or create, mode 0600) the region's secret."""
        cached = self._cache.get(region)
        if cached is None:
            cached = self._load(StateLayout(self._state).audit_key(region))
            self._cache[region] = cached
        return cached

    def _load(self, path: Path) -> bytes:
        try:
            return _read_secret(path)
        except FileNotFoundError:
            if not self._create:
                raise UnavailableError("audit_key_missing", "region audit key not found") from None
        return _create_secret(path)


def _read_secret(path: Path) -> bytes:
    """The secret in ``path``; a short or garbled file is unavailable, never a weak key."""
    try:
        value = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        raise
    except (OSError, ValueError):
        raise UnavailableError("audit_key_unreadable", "region audit key unreadable") from None
    if len(value) != _SECRET_BYTES:
        raise UnavailableError("audit_key_unreadable", "region audit key has the wrong length")
    return value


def _create_secret(path: Path) -> bytes:
    """Write a fresh secret whole, then publish it with a hard link; if another won, read theirs.

    Several writers of a region may start at once on a fresh state folder: the
    link appears with the whole secret in it or not at all, so a loser never
    reads a half-written key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(_SECRET_BYTES)
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value.hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:
        return _read_secret(path)
    finally:
        draft.unlink()
    return value


class MemorySecretSource:
    """Secrets held in memory: for benchmarks and one-shot tools with no state dir."""

    def __init__(self, secrets_by_region: dict[str, bytes]) -> None:
        self._secrets = dict(secrets_by_region)

    def secret(self, region: Region) -> bytes:
        """The configured secret; a region without one is unavailable (fail closed)."""
        try:
            return self._secrets[region]
        except KeyError:
            raise UnavailableError("audit_key_missing", "region audit key not found") from None
