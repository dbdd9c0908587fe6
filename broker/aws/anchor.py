"""AWS mode's ``AuditAnchor``: each anchor signed by the region's KMS key, in its CloudWatch Logs.

Why CloudWatch Logs and not an S3 object-lock bucket: the region already has
the audit log group (declared in ``infra/regional.yaml`` with its retention),
the broker's role may only create streams and put events there (no delete, no
retention change), and one small ``PutLogEvents`` a second is cheap, where
object lock needs a bucket created with it and one object per second. The
signature is what makes the anchor unforgeable: the key's private half never
leaves KMS, and only the gateway role may ``kms:Sign`` with it; anybody with
``kms:Verify`` (or the public key) can check an anchor.

Each chain (region, writer) has a stream of its own in the region's log group
(``stream_of``: ``audit-anchors`` for ``main``, the name it had before
writers, ``audit-anchors/<writer>`` for every other), so writers never
contend. Each anchor is one event there: ``{"anchor": {...}, "signature":
"<base64>"}``, the signature over the canonical JSON of ``anchor`` exactly as
stored (an anchor from before writers has no ``writer`` and is ``main``'s).
Its timestamp never goes backwards (the last one's plus a millisecond, if
the clock went back), so the stream's newest events hold the newest anchor;
``latest`` takes the one with the highest number among them and checks its
signature with KMS. A bad signature, or an anchor of another chain, is
``UnavailableError`` (``audit_anchor_forged``), never an answer.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from broker.audit.anchor import AuditAnchor
from broker.aws.clients import ClientFactory
from broker.aws.errors import AWS_ERRORS, error_code, unavailable
from broker.clock import Clock, SystemClock
from broker.errors import InputError, UnavailableError
from broker.models import Anchor
from broker.state import MAIN_WRITER, WRITER_ID
from broker.typing import Region, WriterId

STREAM = "audit-anchors"
ALGORITHM = "ECDSA_SHA_256"
_SCAN = 50
"""Newest events read by ``latest``: more than any clock step could reorder."""


Chain = tuple[Region, WriterId]


def stream_of(writer: WriterId) -> str:
    """The log stream of ``writer``'s chain anchors."""
    return STREAM if writer == MAIN_WRITER else f"{STREAM}/{writer}"


def writer_of(stream: str) -> WriterId | None:
    """The writer whose anchors ``stream`` holds; None for a stream that is no anchor stream."""
    if stream == STREAM:
        return MAIN_WRITER
    prefix, _, writer = stream.partition("/")
    return WriterId(writer) if prefix == STREAM and WRITER_ID.fullmatch(writer) else None


def anchor_payload(fields: Mapping[str, Any]) -> bytes:
    """The exact bytes signed: the anchor's fields (as stored) as canonical JSON."""
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":")).encode()


class KmsLogsAnchor:
    """``AuditAnchor``: KMS-signed anchors in each region's CloudWatch Logs group."""

    def __init__(
        self,
        clients: ClientFactory,
        regions: Mapping[Region, tuple[str, str]],
        *,
        clock: Clock | None = None,
    ) -> None:
        """``regions``: region -> (signing key id, log group)."""
        self._clients = clients
        self._regions = dict(regions)
        self._clock: Clock = clock or SystemClock()
        self._last_ms: dict[Chain, int] = {}
        self._streams: set[Chain] = set()

    async def put(self, anchor: Anchor) -> None:
        """Sign ``anchor`` with the region's key and append it to the region's stream."""
        await asyncio.to_thread(self._put, anchor)

    async def latest(self, region: Region, writer: WriterId) -> Anchor | None:
        """The chain's newest genuine anchor; ``UnavailableError`` if it is not genuine."""
        return await asyncio.to_thread(self._latest, (region, writer))

    async def writers(self, region: Region) -> list[WriterId]:
        """The writers with an anchor stream in ``region``'s log group, sorted."""
        return await asyncio.to_thread(self._writers, region)

    def _writers(self, region: Region) -> list[WriterId]:
        _, group = self._where(region)
        found: list[WriterId] = []
        try:
            pages = (
                self._logs(region)
                .get_paginator("describe_log_streams")
                .paginate(logGroupName=group, logStreamNamePrefix=STREAM)
            )
            for page in pages:
                found += [w for s in page["logStreams"] if (w := writer_of(s["logStreamName"]))]
        except AWS_ERRORS as error:
            raise unavailable("audit_anchor_failed", "audit anchor", error) from None
        return sorted(found)

    def _where(self, region: Region) -> tuple[str, str]:
        found = self._regions.get(region)
        if found is None:
            raise InputError("region", "no anchor key configured for this region")
        return found

    def _put(self, anchor: Anchor) -> None:
        chain = (anchor.region, anchor.writer)
        key, group = self._where(anchor.region)
        fields = asdict(anchor)
        try:
            signature = self._kms(anchor.region).sign(
                KeyId=key, Message=anchor_payload(fields), MessageType="RAW",
                SigningAlgorithm=ALGORITHM,
            )["Signature"]  # fmt: skip
            logs = self._logs(anchor.region)
            self._ensure_stream(logs, chain, group)
            body = {"anchor": fields, "signature": base64.b64encode(signature).decode()}
            stamp = self._timestamp(chain)
            answer = logs.put_log_events(
                logGroupName=group, logStreamName=stream_of(anchor.writer),
                logEvents=[{"timestamp": stamp, "message": json.dumps(body, sort_keys=True)}],
            )  # fmt: skip
        except AWS_ERRORS as error:
            raise unavailable("audit_anchor_failed", "audit anchor", error) from None
        if answer.get("rejectedLogEventsInfo"):  # too old or too new: the clock is far off
            raise UnavailableError("audit_anchor_failed", "CloudWatch Logs rejected the anchor")
        self._last_ms[chain] = stamp

    def _timestamp(self, chain: Chain) -> int:
        now = int(self._clock.now().timestamp() * 1000)
        return max(now, self._last_ms.get(chain, 0) + 1)

    def _latest(self, chain: Chain) -> Anchor | None:
        region, writer = chain
        key, group = self._where(region)
        try:
            events = self._logs(region).get_log_events(
                logGroupName=group, logStreamName=stream_of(writer), startFromHead=False,
                limit=_SCAN,
            )["events"]  # fmt: skip
        except AWS_ERRORS as error:
            if error_code(error) == "ResourceNotFoundException":
                return None  # no stream yet: never anchored
            raise unavailable("audit_anchor_failed", "audit anchor", error) from None
        if not events:
            return None
        self._last_ms[chain] = max(e["timestamp"] for e in events)
        newest = max((_parse(e["message"], chain) for e in events), key=lambda a: a[0].number)
        self._check_signature(region, key, *newest)
        return newest[0]

    def _check_signature(
        self, region: Region, key: str, anchor: Anchor, payload: bytes, signature: bytes
    ) -> None:
        try:
            valid = self._kms(region).verify(
                KeyId=key, Message=payload, MessageType="RAW",
                Signature=signature, SigningAlgorithm=ALGORITHM,
            )["SignatureValid"]  # fmt: skip
        except AWS_ERRORS as error:
            if error_code(error) != "KMSInvalidSignatureException":
                raise unavailable("audit_anchor_failed", "audit anchor", error) from None
            valid = False
        if not valid:
            raise UnavailableError("audit_anchor_forged", "the latest audit anchor is not genuine")

    def _ensure_stream(self, logs: Any, chain: Chain, group: str) -> None:
        if chain in self._streams:
            return
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=stream_of(chain[1]))
        except AWS_ERRORS as error:
            if error_code(error) != "ResourceAlreadyExistsException":
                raise
        self._streams.add(chain)

    def _kms(self, region: Region) -> Any:
        return self._clients.client("kms", region)

    def _logs(self, region: Region) -> Any:
        return self._clients.client("logs", region)


class RoutedAnchor:
    """``AuditAnchor``: KMS-signed for the regions with a key, ``fallback`` for every other.

    A region with no anchor key (or none served at all: an imported org's home
    whose events still land in a chain) is anchored all the same, in the store."""

    def __init__(
        self, signed: KmsLogsAnchor, regions: frozenset[Region], fallback: AuditAnchor
    ) -> None:
        self._signed = signed
        self._regions = regions
        self._fallback = fallback

    def _for(self, region: Region) -> AuditAnchor:
        return self._signed if region in self._regions else self._fallback

    async def put(self, anchor: Anchor) -> None:
        """Append ``anchor`` where its region's anchors are kept."""
        await self._for(anchor.region).put(anchor)

    async def latest(self, region: Region, writer: WriterId) -> Anchor | None:
        """The chain's latest anchor from where ``region``'s anchors are kept."""
        return await self._for(region).latest(region, writer)

    async def writers(self, region: Region) -> list[WriterId]:
        """The writers with anchors where ``region``'s anchors are kept."""
        return await self._for(region).writers(region)


def _parse(message: str, chain: Chain) -> tuple[Anchor, bytes, bytes]:
    """An event's anchor, the payload its signature covers, and the signature.

    A malformed one, or one of another chain, is not genuine."""
    try:
        body = json.loads(message)
        fields = body["anchor"]
        anchor = Anchor(**fields)
        signature = base64.b64decode(body["signature"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise UnavailableError("audit_anchor_forged", "an audit anchor is malformed") from None
    if (anchor.region, anchor.writer) != chain:
        raise UnavailableError("audit_anchor_forged", "an audit anchor names another chain")
    return anchor, anchor_payload(fields), signature
