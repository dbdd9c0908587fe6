"""Verify a region's audit chain: intact, or the first bad record and why.

Every record must hash to its ``hash``, carry the next ``seq``, link to the
previous record's hash (across segments, from the region's genesis), belong to
the region and be a known event. Segments must be numbered without gaps and
none but the last may be empty. The sealed ``HEAD`` must match the chain: a
chain shorter than ``HEAD`` was truncated, a record at ``HEAD``'s position with
another hash was rewritten. Records after ``HEAD`` and one torn last line are a
crash's unsealed tail (the writer recovers them on open), not tampering.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from broker.audit.keys import SecretSource
from broker.audit.segments import (
    HEAD_NAME,
    Head,
    check_line,
    genesis,
    head_sealed,
    list_segments,
    read_head,
    segment_name,
)
from broker.state import StateLayout, check_region


@dataclass(frozen=True, slots=True)
class Problem:
    """The first bad record: its segment file, 1-based line, and the reason."""

    segment: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.segment}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of verifying one region's chain."""

    region: str
    records: int
    last_hash: str
    problem: Problem | None = None
    sealed: bool = False
    unsealed_records: int = 0
    torn_tail: bool = False

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        problem = None if self.problem is None else {
            "segment": self.problem.segment, "line": self.problem.line,
            "reason": self.problem.reason,
        }  # fmt: skip
        return {
            "region": self.region, "ok": self.ok, "records": self.records,
            "last_hash": self.last_hash, "sealed": self.sealed,
            "unsealed_records": self.unsealed_records, "torn_tail": self.torn_tail,
            "problem": problem,
        }  # fmt: skip


class _Bad(Exception):
    """Internal: carries the first problem out of the scan."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass(slots=True)
class _Walk:
    """Where the scan is: last good record and its position."""

    seq: int
    hash: str
    segment: int = 0
    line: int = 0
    torn_at: Problem | None = None


def verify_region(state_dir: Path, region: str, secrets: SecretSource | None) -> VerifyResult:
    """Verify ``<state>/regions/<region>/audit``; the seal is checked when ``secrets`` is given."""
    secret = None if secrets is None else secrets.secret(check_region(region))
    return verify_directory(StateLayout(state_dir).audit(region), region, secret)


def verify_directory(directory: Path, region: str, secret: bytes | None) -> VerifyResult:
    """Verify one chain directory (``secret``: check HEAD's seal; ``None``: skip it)."""
    walk = _Walk(0, genesis(region))
    head: Head | None = None
    try:
        head = _head(directory, region, secret)
        _scan(directory, region, walk, head)
        _check_end(walk, head)
    except _Bad as bad:
        return VerifyResult(region, walk.seq, walk.hash, bad.problem, secret is not None)
    unsealed = walk.seq - (head.seq if head is not None else 0)
    torn = walk.torn_at is not None
    return VerifyResult(region, walk.seq, walk.hash, None, secret is not None, unsealed, torn)


def _head(directory: Path, region: str, secret: bytes | None) -> Head | None:
    try:
        found = read_head(directory)
    except (OSError, ValueError):
        raise _Bad(Problem(HEAD_NAME, 0, "HEAD is unreadable")) from None
    if found is None:
        return None
    head, seal = found
    if head.region != region:
        raise _Bad(Problem(HEAD_NAME, 0, "HEAD belongs to another region"))
    if secret is not None and not head_sealed(head, seal, secret):
        raise _Bad(Problem(HEAD_NAME, 0, "HEAD seal does not match: HEAD was altered"))
    return head


def _scan(directory: Path, region: str, walk: _Walk, head: Head | None) -> None:
    segments = list_segments(directory)
    for position, (index, path) in enumerate(segments, start=1):
        if index != position:
            missing = segment_name(position)
            raise _Bad(Problem(path.name, 1, f"segment {missing} is missing before this one"))
        walk.segment, walk.line = index, 0
        with path.open("rb") as stream:
            _scan_lines(stream, path.name, region, walk, head)
        if walk.line == 0 and position != len(segments):
            raise _Bad(Problem(path.name, 1, "segment is empty"))


def _scan_lines(stream: BinaryIO, name: str, region: str, walk: _Walk, head: Head | None) -> None:
    for raw in stream:
        if walk.torn_at is not None:  # a torn line followed by more data is no crash residue
            raise _Bad(walk.torn_at)
        if not raw.endswith(b"\n"):
            walk.torn_at = Problem(name, walk.line + 1, "incomplete record")
            continue
        record, reason = check_line(raw[:-1], walk.seq + 1, walk.hash, region)
        if record is None:
            raise _Bad(Problem(name, walk.line + 1, reason))
        walk.seq, walk.hash, walk.line = walk.seq + 1, record["hash"], walk.line + 1
        if head is not None and walk.seq == head.seq:
            _check_at_head(walk, head, name)


def _check_at_head(walk: _Walk, head: Head, name: str) -> None:
    if (walk.hash, walk.segment, walk.line) != (head.hash, head.segment, head.line):
        raise _Bad(Problem(name, walk.line, "record differs from the sealed HEAD: rewritten"))


def _check_end(walk: _Walk, head: Head | None) -> None:
    if head is None:
        if walk.seq:
            raise _Bad(Problem(HEAD_NAME, 0, "HEAD is missing"))
        return
    if walk.seq >= head.seq:
        return
    if walk.torn_at is not None:
        where = (walk.torn_at.segment, walk.torn_at.line)
    elif 0 < walk.segment < head.segment:
        where = (segment_name(walk.segment + 1), 1)
    else:
        where = (segment_name(max(walk.segment, 1)), walk.line + 1)
    reason = f"truncated: records {walk.seq + 1} to {head.seq} are missing"
    raise _Bad(Problem(*where, reason))
