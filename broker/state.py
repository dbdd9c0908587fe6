"""The state folder's layout, and the one check a region code passes before it becomes a path.

Everything written for a region lives below ``<state>/regions/<region>/``, so
nothing for one region can land in another's folder, and a region code is
checked here, once, before any path is built from it (a code cannot walk out
of the state folder). Every module asks ``StateLayout`` for its folder rather
than joining the parts itself.

::

    <state>/
      broker.db                        the SQLite store (local mode)
      auth/jwt-signing.pem             the local token authority's key
      regions/<region>/
        ca/<name>                      the region CA's secrets (``LocalKeyStore``)
        gateway/                       the gateway's host and client keys
        audit/<writer>/                one hash chain per writer: segments, HEAD, LOCK
        audit-key                      the region's redaction and chain secret
        recordings/                    asciicast files (and the S3 upload spool)
        demo-target/                   the local-mode demo host
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from broker.errors import InputError
from broker.typing import Region, WriterId

REGION_CODE = re.compile(r"[a-z]{2,8}(?:-[a-z]+)+-[0-9]{1,2}")
"""An AWS region code: ``eu-central-1``, ``us-gov-west-1``, ``eusc-de-east-1``."""


def is_region(value: object) -> bool:
    """True when ``value`` is a well-formed region code."""
    return isinstance(value, str) and REGION_CODE.fullmatch(value) is not None


def check_region(region: object) -> Region:
    """``region`` if it is a well-formed region code, else ``InputError`` on ``region``."""
    if not is_region(region):
        raise InputError("region", "not an AWS region code")
    assert isinstance(region, str)
    return Region(region)


WRITER_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
"""A writer id: it names a chain's folder and log stream, so nothing that could walk a path."""

MAIN_WRITER = WriterId("main")
"""The writer of a process that names none: ``broker run``, and every chain from before writers."""


def check_writer(writer: object) -> WriterId:
    """``writer`` if it is a well-formed writer id, else ``InputError`` on ``writer``."""
    if not isinstance(writer, str) or WRITER_ID.fullmatch(writer) is None:
        raise InputError("writer", "not a writer id (a-z, 0-9 and inner '-', at most 63)")
    return WriterId(writer)


@dataclass(frozen=True, slots=True)
class StateLayout:
    """Every path below one state folder; each region path checks its region first."""

    root: Path

    @property
    def database(self) -> Path:
        """The local-mode SQLite store, shared by every API process."""
        return Path(self.root) / "broker.db"

    @property
    def signing_key(self) -> Path:
        """The local token authority's Ed25519 key."""
        return Path(self.root) / "auth" / "jwt-signing.pem"

    @property
    def regions(self) -> Path:
        """``<state>/regions``: one folder per region."""
        return Path(self.root) / "regions"

    def region(self, region: str) -> Path:
        """``<state>/regions/<region>``: everything of one region lives below it."""
        return self.regions / check_region(region)

    def ca(self, region: str) -> Path:
        """The region CA's secret files."""
        return self.region(region) / "ca"

    def gateway(self, region: str) -> Path:
        """The region gateway's own host and client keys."""
        return self.region(region) / "gateway"

    def audit(self, region: str) -> Path:
        """The region's audit folder: one chain folder per writer below it."""
        return self.region(region) / "audit"

    def audit_chain(self, region: str, writer: str) -> Path:
        """One writer's chain of ``region``: its segments, ``HEAD`` and ``LOCK``."""
        return self.audit(region) / check_writer(writer)

    def audit_key(self, region: str) -> Path:
        """The region's audit secret (redaction and chain keys derive from it)."""
        return self.region(region) / "audit-key"

    def recordings(self, region: str) -> Path:
        """The region's session recordings (also the S3 upload spool in AWS mode)."""
        return self.region(region) / "recordings"

    def demo_target(self, region: str) -> Path:
        """The region's local-mode demo target host."""
        return self.region(region) / "demo-target"

    def existing_regions(self, keep: Callable[[Path], bool] = Path.is_dir) -> list[str]:
        """Names of the region folders present whose folder passes ``keep``, sorted."""
        found = self.regions.iterdir() if self.regions.is_dir() else iter(())
        return sorted(path.name for path in found if path.is_dir() and keep(path))
