"""Uploading the gateway's recording spool to the region's S3 bucket.

The spool is ``<state>/regions/<region>/recordings/*.cast``; it is also the
uploader's only state, so a restarted gateway simply resumes. A recording is
*complete* (ready to upload) when a sibling ``<id>.cast.done`` marker exists,
or when no writer holds its ``flock`` and it has not changed for
``quiet_seconds``. Files are treated as opaque bytes.

Each upload is a ``PutObject`` with SSE-KMS under the region's key and a
SHA-256 checksum; the local file (and marker) is deleted only after
``HeadObject`` reports the same checksum, length and encryption. The bucket's
region is checked at start and before every pass: a bucket anywhere else is
refused (``RegionMismatch``, audited) and nothing is uploaded. Failures are
retried forever with exponential backoff and jitter; nothing is deleted
until it is confirmed, so an S3 outage loses nothing. Live recordings are
checkpointed to the bucket as they grow (``broker.aws.checkpoints``), so a
survivor can rebuild a dead replica's recordings without its disk
(``salvage``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import os
import random
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.aws.checkpoints import Checkpoints
from broker.aws.clients import ClientFactory
from broker.aws.errors import AWS_ERRORS, error_code, unavailable
from broker.config.aws import AwsRegionSettings, UploadPolicy
from broker.errors import ConflictError, RegionMismatch, UnavailableError
from broker.events import EventSink
from broker.recording import castfile
from broker.recording.legal_hold import HOLD_DIR, HoldCopy, hold_name
from broker.state import StateLayout

__all__ = [  # UploadPolicy now lives in settings; callers still import it from here
    "DONE",
    "KEY_PREFIX",
    "SUFFIX",
    "Pending",
    "RecordingUploader",
    "UploadPolicy",
    "bucket_region",
    "is_complete",
    "pending_in",
    "sha256_b64",
    "spool_dir",
    "spooled",
]

SUFFIX = castfile.SUFFIX
DONE = castfile.DONE_SUFFIX
SNAPSHOTS = ".snapshots"
KEY_PREFIX = "recordings/"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Pending:
    """A recording waiting in the spool."""

    name: str
    size: int
    complete: bool


def spool_dir(state_dir: Path, region: str) -> Path:
    """``<state>/regions/<region>/recordings``."""
    return StateLayout(Path(state_dir)).recordings(region)


def sha256_b64(path: Path) -> str:
    """The file's SHA-256, base64 (S3's ``ChecksumSHA256`` form)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def _held_by_writer(path: Path) -> bool:
    """True while the recorder holds its exclusive lock on the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def spooled(spool: Path) -> list[Path]:
    """The recordings in a spool folder, by name."""
    if not spool.is_dir():
        return []
    return sorted(p for p in spool.iterdir() if p.name.endswith(SUFFIX))


def is_complete(path: Path, quiet_seconds: float) -> bool:
    """Marked done, or unlocked by any writer and unchanged for ``quiet_seconds``."""
    if path.with_name(path.name + DONE).exists():
        return True
    quiet = time.time() - path.stat().st_mtime >= quiet_seconds
    return quiet and not _held_by_writer(path)


def pending_in(spool: Path, quiet_seconds: float) -> list[Pending]:
    """What waits in ``spool`` for upload, by name."""
    found = (_pending(path, quiet_seconds) for path in spooled(spool))
    return [pending for pending in found if pending is not None]


def _pending(path: Path, quiet_seconds: float) -> Pending | None:
    # The uploader deletes a file once it is confirmed in S3, which may happen
    # between listing the folder and looking at the file: then it is not pending.
    try:
        return Pending(path.name, path.stat().st_size, is_complete(path, quiet_seconds))
    except FileNotFoundError:
        return None


def bucket_region(client: Any, bucket: str) -> str:
    """The bucket's region: ``x-amz-bucket-region`` of HeadBucket, else GetBucketLocation."""
    head = client.head_bucket(Bucket=bucket)
    found = head.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
    if found:
        return str(found)
    location = client.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    # S3 reports us-east-1 as no constraint and eu-west-1 by its legacy name "EU".
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, str(location))


class RecordingUploader:
    """Uploads one region's spool to that region's bucket."""

    def __init__(
        self,
        clients: ClientFactory,
        settings: AwsRegionSettings,
        state_dir: Path,
        events: EventSink,
        policy: UploadPolicy | None = None,
    ) -> None:
        self.region = settings.region
        self.settings = settings
        self.spool = spool_dir(state_dir, settings.region)
        self.policy = policy or UploadPolicy()
        self._clients = clients
        self._events = events
        self._failures = 0
        self._mismatch = False
        self._unreachable = False
        self.checkpoints = Checkpoints(lambda: self._s3, settings, self.policy.checkpoint_seconds)

    @property
    def failures(self) -> int:
        """Upload passes failed in a row (0 after one succeeds): how long S3 has been away."""
        return self._failures

    @property
    def _s3(self) -> Any:
        return self._clients.client("s3", self.region)

    def check_bucket(self) -> None:
        """Refuse (``RegionMismatch``, audited) unless the bucket is in this region."""
        try:
            found = bucket_region(self._s3, self.settings.bucket)
        except AWS_ERRORS as error:
            raise unavailable("recordings_unreachable", "s3", error) from error
        if found != self.region:
            self._mismatch = True
            self._events.emit(
                "recordings.region_mismatch",
                region=self.region,
                reason="bucket_region_mismatch",
                location=found,
            )
            raise RegionMismatch(
                "bucket_region_mismatch", "the recordings bucket is in another region"
            )
        self._mismatch = False

    def pending(self) -> list[Pending]:
        """Every recording in the spool, oldest name first, and whether it is complete."""
        return pending_in(self.spool, self.policy.quiet_seconds)

    def _casts(self) -> list[Path]:
        return spooled(self.spool)

    def is_complete(self, path: Path) -> bool:
        """Marked done, or unlocked and unchanged for ``quiet_seconds``."""
        return is_complete(path, self.policy.quiet_seconds)

    def check_can_accept(self) -> None:
        """Raise ``UnavailableError`` when a new session must be refused (fail closed).

        A session is refused while the last upload pass could not reach the
        region's storage: its recording could only wait on this machine, so
        no new access starts until a pass reaches S3 again (within
        ``max_backoff_seconds``). Sessions already running go on, and their
        recordings wait in the spool (nothing is lost)."""
        if self._mismatch:
            raise UnavailableError("recordings_region_mismatch", "recordings bucket refused")
        if self._unreachable:
            raise UnavailableError(
                "recordings_unreachable", "the region's recording storage cannot be reached"
            )
        if not self.policy.strict:
            return
        try:
            self.spool.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.spool / ".probe", os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as error:
            raise UnavailableError(
                "spool_unwritable", "recording spool cannot be written"
            ) from error
        if len(list(self._casts())) > self.policy.max_pending:
            raise UnavailableError("spool_backlog", "too many recordings await upload")

    def upload_ready(self) -> int:
        """One pass: check the bucket, upload and confirm every complete recording.

        Returns how many were uploaded; raises on the first failure (the caller backs off).
        Whether the storage was reached is kept for ``check_can_accept``.
        """
        try:
            self.check_bucket()
            done = 0
            for path in self._casts():
                if self.is_complete(path):
                    self.upload(path)
                    done += 1
                else:  # live: its new lines go up as a part (``broker.aws.checkpoints``)
                    self.checkpoints.due(path)
        except UnavailableError:
            self._unreachable = True
            raise
        self._unreachable = False
        return done

    def upload(self, path: Path) -> None:
        """Upload one recording, confirm its checksum, then delete it from the spool."""
        checksum, size = sha256_b64(path), path.stat().st_size
        with path.open("rb") as body:
            self._store(path.name, body, checksum, size)
        path.with_name(path.name + DONE).unlink(missing_ok=True)
        # A replay's screen snapshots (broker.viewer.snapshots) go with the file; a
        # replay of the uploaded recording rebuilds them in the region's replay cache.
        path.with_name(path.name + SNAPSHOTS).unlink(missing_ok=True)
        path.unlink()
        self._stored(path.name, checksum, size)

    def salvage(self, session_ids: Collection[str]) -> list[str]:
        """Rebuild the recordings of ``session_ids`` (a dead sibling's) from their parts.

        Each is uploaded ended ``incomplete``, only if the bucket has no such
        recording yet (a conditional put): the dead replica's own upload of
        the fuller file always wins. A recording in this spool (a shared
        folder: the file itself is fuller) is left to the usual pass.
        Returns the names uploaded."""
        wanted = {session_id + SUFFIX for session_id in session_ids}
        saved = []
        for name in sorted(self.checkpoints.names() & wanted):
            body = None if (self.spool / name).exists() else self.checkpoints.salvage(name)
            if body is None:
                continue
            checksum = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
            with contextlib.suppress(ConflictError):  # uploaded meanwhile: that one is fuller
                self._store(name, body, checksum, len(body), only_new=True)
                self._stored(name, checksum, len(body))
                saved.append(name)
        return saved

    def _store(
        self, name: str, body: Any, checksum: str, size: int, *, only_new: bool = False
    ) -> None:
        """PutObject (SSE-KMS, SHA-256), confirmed by HeadObject; ``only_new``: never over
        an existing object (``ConflictError`` then)."""
        key, extra = KEY_PREFIX + name, {"IfNoneMatch": "*"} if only_new else {}
        try:
            self._s3.put_object(
                Bucket=self.settings.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                ServerSideEncryption="aws:kms", SSEKMSKeyId=self.settings.kms_key_id, **extra,
            )  # fmt: skip
            head = self._s3.head_object(
                Bucket=self.settings.bucket, Key=key, ChecksumMode="ENABLED"
            )
        except AWS_ERRORS as error:
            if error_code(error) == "PreconditionFailed":
                raise ConflictError(
                    "recording_exists", "the recording is stored already"
                ) from error
            raise unavailable("recording_upload_failed", "s3", error) from error
        if not _confirmed(head, checksum, size):
            raise UnavailableError("recording_unconfirmed", "stored object does not match")

    def _stored(self, name: str, checksum: str, size: int) -> None:
        """A recording confirmed in the bucket: its parts go, and the audit trail says where."""
        with contextlib.suppress(UnavailableError):  # strays expire by the bucket's lifecycle
            self.checkpoints.drop(name)
        self._events.emit(
            "recording.stored",
            region=self.region,
            session_id=name[: -len(SUFFIX)],
            location=f"s3://{self.settings.bucket}/{KEY_PREFIX}{name}",
            bytes=size,
            sha256=checksum,
        )

    def fetch(self, name: str, dest: Path) -> bool:
        """Read ``name`` (``<session>.cast``) from this region's bucket into ``dest``, a
        file in this region's folder (a replay, on the region's own unit); False when
        the bucket has no such recording. Written under a temporary name and renamed."""
        try:
            got = self._s3.get_object(Bucket=self.settings.bucket, Key=KEY_PREFIX + name)
        except AWS_ERRORS as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return False
            raise unavailable("recording_fetch_failed", "s3", error) from error
        partial = dest.with_name(f".{dest.name}.partial")
        try:
            with partial.open("wb") as out:
                while chunk := got["Body"].read(_CHUNK):
                    out.write(chunk)
            partial.replace(dest)
        finally:
            partial.unlink(missing_ok=True)
        return True

    def hold_copy(self, name: str, hold: str) -> HoldCopy | None:
        """Copy ``name`` inside this region's bucket to ``legal-hold/<hold>/<name>``
        (server-side, SSE-KMS under the region's key: the bytes never leave S3); None
        when the bucket has no such recording. An existing hold copy is never replaced."""
        source, target = KEY_PREFIX + name, f"{HOLD_DIR}/{hold_name(hold)}/{name}"
        bucket = self.settings.bucket
        try:
            if self._exists(target):
                raise ConflictError(
                    "hold_copy_exists", "this hold already has a copy of the session's recording"
                )
            head = self._s3.head_object(Bucket=bucket, Key=source, ChecksumMode="ENABLED")
            self._s3.copy_object(
                Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source},
                ServerSideEncryption="aws:kms", SSEKMSKeyId=self.settings.kms_key_id,
            )  # fmt: skip
        except AWS_ERRORS as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return None
            raise unavailable("hold_copy_failed", "s3", error) from error
        digest = base64.b64decode(head.get("ChecksumSHA256", "")).hex()
        return HoldCopy(f"s3://{bucket}/{target}", int(head["ContentLength"]), digest)

    def _exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.settings.bucket, Key=key)
        except AWS_ERRORS as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return False
            raise
        return True

    def next_delay(self, failed: bool) -> float:
        """Seconds until the next pass: exponential with full jitter after failures."""
        base, cap = self.policy.backoff
        self._failures = self._failures + 1 if failed else 0
        if not failed:
            return base
        return random.uniform(0, min(cap, base * 2**self._failures))  # noqa: S311 - jitter only

    async def run(self, stop: asyncio.Event) -> None:
        """Upload passes until ``stop`` is set; failures back off and retry."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.upload_ready)
                delay = self.next_delay(failed=False)
            except (UnavailableError, RegionMismatch, OSError):
                delay = self.next_delay(failed=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


def _confirmed(head: dict[str, Any], checksum: str, size: int) -> bool:
    return (
        head.get("ChecksumSHA256") == checksum
        and head.get("ContentLength") == size
        and head.get("ServerSideEncryption") == "aws:kms"
    )
