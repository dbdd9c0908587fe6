"""Checkpoints of live recordings in the region's bucket, so no replica's disk is needed.

In AWS mode every replica spools recordings on its own disk, and a finished
recording is uploaded whole (``broker.aws.recordings``). A replica whose
machine is lost mid-session would take the unfinished recordings with it.
So every ``checkpoint_seconds`` the uploader's pass puts the whole lines a
live recording gained since its last checkpoint as one part object,
``recording-parts/<id>.cast/<offset>`` (SSE-KMS under the region's key, in
the region's bucket: the bytes go where the recording goes anyway). The
confirmed upload of the finished recording deletes its parts.

When a survivor takes over a dead sibling's sessions (``broker.runtime.unit``)
it *salvages* each one's recording: the parts in offset order, an
``incomplete`` marker after the last event, uploaded as the recording
itself, unless the recording is there already. If the dead replica's own
machine comes back, its next start marks and uploads the fuller file from
its disk, which replaces the salvage (the bucket keeps versions). Parts have
their own prefix so that a lifecycle rule can expire strays and the unit's
role may delete there and nowhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.aws.errors import AWS_ERRORS, unavailable
from broker.config.aws import AwsRegionSettings
from broker.errors import InputError
from broker.recording import castfile

PARTS_PREFIX = "recording-parts/"
"""Where the parts of live recordings go: ``recording-parts/<id>.cast/<offset>``."""
_OFFSET_DIGITS = 16


def part_key(name: str, offset: int) -> str:
    """The key of ``name``'s part starting at ``offset`` (zero-padded: keys sort by offset)."""
    return f"{PARTS_PREFIX}{name}/{offset:0{_OFFSET_DIGITS}d}"


def with_incomplete_marker(body: bytes) -> bytes:
    """Whole recording lines, ended by an ``incomplete`` marker unless already final.

    The marker takes the last event's time (0 after a bare header), as
    ``broker.recording.files.mark_incomplete`` does on disk."""
    lines = body.rstrip(b"\n").split(b"\n")
    if len(lines) < 2:
        return body + castfile.event_line(0.0, "m", castfile.INCOMPLETE)
    try:
        last = castfile.parse_event(lines[-1])
    except InputError:
        return body + castfile.event_line(0.0, "m", castfile.INCOMPLETE)
    if castfile.is_final(last):
        return body
    return body + castfile.event_line(last[0], "m", castfile.INCOMPLETE)


@dataclass
class Checkpoints:
    """One region's part objects: put while live, salvaged after a death, dropped after upload."""

    s3: Callable[[], Any]
    settings: AwsRegionSettings
    every: float
    clock: Callable[[], float] = time.monotonic
    _sent: dict[str, int] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)

    def due(self, path: Path) -> bool:
        """Put a part of ``path`` if its last one is ``every`` seconds old; True if put."""
        now = self.clock()
        if now < self._due.get(path.name, 0.0):
            return False
        self._due[path.name] = now + self.every
        return self.put(path)

    def put(self, path: Path) -> bool:
        """Put the whole lines ``path`` gained since its last part; False when there are none."""
        start = self._sent.get(path.name, 0)
        with path.open("rb") as handle:
            handle.seek(start)
            gained = handle.read()
        whole = gained[: gained.rfind(b"\n") + 1]
        if not whole:
            return False
        self._put(part_key(path.name, start), whole)
        self._sent[path.name] = start + len(whole)
        return True

    def drop(self, name: str) -> None:
        """Delete ``name``'s parts (its whole recording is confirmed in the bucket)."""
        self._sent.pop(name, None)
        self._due.pop(name, None)
        keys = self._parts(name)
        try:
            for key in keys:
                self.s3().delete_object(Bucket=self.settings.bucket, Key=key)
        except AWS_ERRORS as error:
            raise unavailable("recording_parts_not_deleted", "s3", error) from error

    def salvage(self, name: str) -> bytes | None:
        """The recording rebuilt from ``name``'s parts and marked incomplete; None without
        parts. Whether the bucket has the recording already is the caller's conditional put."""
        keys = self._parts(name)
        if not keys:
            return None
        return with_incomplete_marker(b"".join(self._get(part) for part in keys))

    def names(self) -> set[str]:
        """The recordings (``<id>.cast``) that have parts in the bucket: live ones, or a dead
        replica's."""
        found = self._list(PARTS_PREFIX, "CommonPrefixes", "Prefix", Delimiter="/")
        return {prefix[len(PARTS_PREFIX) :].rstrip("/") for prefix in found}

    def _put(self, key: str, body: bytes) -> None:
        try:
            self.s3().put_object(
                Bucket=self.settings.bucket, Key=key, Body=body,
                ServerSideEncryption="aws:kms", SSEKMSKeyId=self.settings.kms_key_id,
            )  # fmt: skip
        except AWS_ERRORS as error:
            raise unavailable("recording_checkpoint_failed", "s3", error) from error

    def _parts(self, name: str) -> list[str]:
        """The keys of ``name``'s parts, by offset."""
        return sorted(self._list(f"{PARTS_PREFIX}{name}/", "Contents", "Key"))

    def _list(self, prefix: str, entries: str, field: str, **extra: str) -> list[str]:
        """``field`` of every ``entries`` item of a listing under ``prefix``, all pages."""
        pages = (
            self.s3()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.settings.bucket, Prefix=prefix, **extra)
        )
        try:
            return [str(item[field]) for page in pages for item in page.get(entries, [])]
        except AWS_ERRORS as error:
            raise unavailable("recording_parts_unlisted", "s3", error) from error

    def _get(self, key: str) -> bytes:
        try:
            return bytes(self.s3().get_object(Bucket=self.settings.bucket, Key=key)["Body"].read())
        except AWS_ERRORS as error:
            raise unavailable("recording_part_unreadable", "s3", error) from error
