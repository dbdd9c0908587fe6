"""Legal-hold copies of a recording, made inside the recording's region.

A hold copy is the one way a recording's text leaves the live spool for a
lawyer, and it never leaves the region: the copy lands in the same region's
storage, under ``<state>/regions/<region>/legal-hold/<hold>/<session>.cast``,
next to a manifest naming its size and SHA-256. The caller learns where it
is, how big it is and its digest, never its bytes. The copy is written under
a temporary name and renamed once synced, so a crash leaves no half copy
under the final name; an existing copy for the same hold is never
overwritten (a hold is evidence, and evidence is not replaced).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from broker.errors import ConflictError, InputError, UnavailableError
from broker.recording.files import check_header_region
from broker.typing import Region, SessionId

HOLD_DIR = "legal-hold"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class HoldCopy:
    """Where a hold copy was written (relative to its region's folder), and what it is."""

    location: str
    bytes: int
    sha256: str


def hold_name(hold: str) -> str:
    """``hold`` as a folder name: an id that is not ``.`` or ``..`` (no way out of the folder)."""
    if hold.startswith("."):
        raise InputError("hold", "must not start with a dot")
    return hold


def copy_for_hold(
    region_dir: Path, region: Region, source: Path, session_id: SessionId, hold: str
) -> HoldCopy:
    """Copy ``source`` into the region's hold folder; refuses another region's file."""
    check_header_region(source, region)
    folder = region_dir / HOLD_DIR / hold_name(hold)
    target = folder / f"{session_id}.cast"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise ConflictError(
                "hold_copy_exists", "this hold already has a copy of the session's recording"
            )
        size, digest = _copy_synced(source, target)
        manifest = {"session_id": session_id, "region": region, "bytes": size, "sha256": digest}
        _write_synced(folder / f"{session_id}.json", json.dumps(manifest).encode())
    except OSError as error:
        raise UnavailableError(
            "hold_storage_unwritable", "the region's legal-hold storage is not writable"
        ) from error
    return HoldCopy(f"{HOLD_DIR}/{hold}/{target.name}", size, digest)


def _copy_synced(source: Path, target: Path) -> tuple[int, str]:
    """Copy through a temporary name, fsync, rename; the size and hex SHA-256."""
    digest = hashlib.sha256()
    size = 0
    partial = target.with_name(f".{target.name}.partial")
    try:
        with source.open("rb") as reader, partial.open("wb") as writer:
            while chunk := reader.read(_CHUNK):
                writer.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        partial.rename(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return size, digest.hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as writer:
        writer.write(data)
        writer.flush()
        os.fsync(writer.fileno())
