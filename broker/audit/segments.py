"""The on-disk form of one audit chain, shared by writer, verifier and reader.

A region has one chain per writer (``broker.typing.WriterId``), each in its own
folder ``<state>/regions/<region>/audit/<writer>/``: numbered JSON Lines
segments (``00000001.jsonl`` ...) and ``HEAD``. Each line is one record::

    {"seq":7,"time":"...Z","region":"eu-central-1","writer":"main","event":...,"prev":"<hex>","hash":"<hex>"}

``hash`` is SHA-256 over the line's exact bytes up to and including the comma
before ``"hash"``, so it covers ``prev``, which is the previous record's hash
(across segment boundaries too; the first record links to a genesis value bound
to the region and the writer). The chain id, region and writer, is in every
record, in ``HEAD`` and in the genesis: a record or a whole chain moved to
another writer's or region's folder no longer verifies. Anyone can recompute
the chain; nobody can rewrite it unnoticed without also forging ``HEAD``,
which names the last durable record and carries an HMAC seal under the
region's key. ``HEAD`` also catches truncation, which a chain alone cannot.

Chains from before writers existed have no ``writer`` in their records or
``HEAD`` and a genesis bound to the region alone: they are the ``main``
writer's, so ``main`` keeps that genesis, and a record or ``HEAD`` without a
writer counts as ``main``'s (nowhere else).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from broker import compact_json
from broker.audit.catalog import EVENT_FIELDS
from broker.audit.keys import derive_key
from broker.state import MAIN_WRITER

HEAD_NAME = "HEAD"
_SEGMENT = re.compile(r"(\d{8})\.jsonl")
_SUFFIX = re.compile(rb'"hash":"([0-9a-f]{64})"}')
_UNLINKED = "chain broken: prev does not match the previous record's hash"
SUFFIX_LEN = 74  # len('"hash":"') + 64 + len('"}')


def genesis(region: str, writer: str = MAIN_WRITER) -> str:
    """The ``prev`` of a chain's first record: binds the chain to its region and writer.

    ``main``'s is the region's alone, as every chain's was before writers."""
    name = region if writer == MAIN_WRITER else f"{region}:{writer}"
    return hashlib.sha256(f"broker.audit.genesis:{name}".encode()).hexdigest()


def segment_name(index: int) -> str:
    """File name of segment ``index`` (1-based)."""
    return f"{index:08d}.jsonl"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """The segment files present, by index (gaps are the verifier's business)."""
    found = []
    for entry in os.scandir(directory) if directory.is_dir() else ():
        match = _SEGMENT.fullmatch(entry.name)
        if match is not None:
            found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


def encode_record(record: dict[str, Any]) -> tuple[bytes, str]:
    """The line (with newline) for ``record`` (which ends with ``prev``) and its hash.

    The hash covers the line's own bytes up to ``"hash"``, and the verifier
    hashes the bytes it reads, so any compact JSON serves: ``compact_json``
    writes a record in a fraction of the standard encoder's time (the main
    process writes every API worker's events)."""
    prefix = compact_json.dumps(record)[:-1] + b","
    digest = hashlib.sha256(prefix).hexdigest()
    return prefix + b'"hash":"' + digest.encode() + b'"}\n', digest


def check_line(
    raw: bytes, seq: int, prev: str, region: str, writer: str = MAIN_WRITER
) -> tuple[dict[str, Any] | None, str]:
    """Check one complete line (no newline) against its place in ``writer``'s chain.

    Returns ``(record, "")`` when it is the expected record, else ``(None, reason)``.
    """
    suffix = _SUFFIX.fullmatch(raw, len(raw) - SUFFIX_LEN) if len(raw) > SUFFIX_LEN else None
    if suffix is None or raw[-SUFFIX_LEN - 1 : -SUFFIX_LEN] != b",":
        return None, "malformed record"
    if hashlib.sha256(raw[:-SUFFIX_LEN]).hexdigest() != suffix.group(1).decode():
        return None, "hash mismatch: record content was changed"
    try:
        record = json.loads(raw)
    except ValueError:
        return None, "malformed record"
    return _check_place(record, seq, prev, (region, writer))


def _check_place(
    record: Any, seq: int, prev: str, chain: tuple[str, str]
) -> tuple[dict[str, Any] | None, str]:
    if not isinstance(record, dict):
        return None, "malformed record"
    found = record.get("seq")
    if found != seq:
        return None, f"sequence mismatch: expected seq {seq}, found {found!r}"
    checks = (
        (record.get("prev") == prev, _UNLINKED),
        (record.get("region") == chain[0], "record belongs to another region"),
        (record.get("writer", MAIN_WRITER) == chain[1], "record belongs to another writer's chain"),
        (record.get("event") in EVENT_FIELDS, "unknown event type"),
    )  # fmt: skip
    failed = next((reason for passed, reason in checks if not passed), None)
    return (record, "") if failed is None else (None, failed)


@dataclass(frozen=True, slots=True)
class Head:
    """The last durable record of one writer's chain: where it is and what its hash is."""

    region: str
    segment: int
    line: int
    offset: int
    seq: int
    hash: str
    writer: str = MAIN_WRITER

    def seal(self, secret: bytes, *, legacy: bool = False) -> str:
        """HMAC of these fields under the region's head-seal key.

        ``legacy``: the seal of a ``HEAD`` from before writers, without ``writer``."""
        fields = asdict(self)
        if legacy:
            del fields["writer"]
        payload = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(derive_key(secret, "head-seal"), payload, hashlib.sha256).hexdigest()


def read_head(directory: Path) -> tuple[Head, str] | None:
    """``(head, seal)`` from ``HEAD``; ``None`` if absent; ``ValueError`` if garbled."""
    try:
        data = json.loads((directory / HEAD_NAME).read_bytes())
    except FileNotFoundError:
        return None
    try:
        seal = data.pop("seal")
        head = Head(**data)
    except (AttributeError, KeyError, TypeError):
        raise ValueError("head fields") from None
    ints = (head.segment, head.line, head.offset, head.seq)
    texts = (seal, head.region, head.hash, head.writer)
    if not all(isinstance(v, str) for v in texts) or not all(
        isinstance(v, int) and v >= 0 for v in ints
    ):
        raise ValueError("head field types")
    return head, seal


def head_sealed(head: Head, seal: str, secret: bytes) -> bool:
    """Does ``seal`` match ``head`` under ``secret``? (``main`` also in the legacy form.)"""
    if hmac.compare_digest(head.seal(secret), seal):
        return True
    return head.writer == MAIN_WRITER and hmac.compare_digest(head.seal(secret, legacy=True), seal)


def write_head(directory: Path, head: Head, secret: bytes, *, sync: bool) -> None:
    """Replace ``HEAD`` atomically (write, fsync, rename).

    The directory is not fsynced: if a crash loses the rename, the old HEAD is
    still whole and sealed, and recovery re-seals the records after it."""
    data = {**asdict(head), "seal": head.seal(secret)}
    tmp = directory / (HEAD_NAME + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(data, sort_keys=True).encode() + b"\n")
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, directory / HEAD_NAME)


def sync_directory(directory: Path) -> None:
    """fsync a directory so new and renamed entries in it survive a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ends_with_hash(path: Path, offset: int, digest: str) -> bool:
    """Do the bytes before ``offset`` in ``path`` end the record whose hash is ``digest``?"""
    tail = f'"hash":"{digest}"}}\n'.encode()
    if offset < len(tail):
        return False
    with path.open("rb") as stream:
        stream.seek(offset - len(tail))
        return stream.read(len(tail)) == tail
