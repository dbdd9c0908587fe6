"""Verify a region's audit chains, one per writer: each intact, or its first bad record and why.

Every record must hash to its ``hash``, carry the next ``seq``, link to the
previous record's hash (across segments, from the chain's genesis), belong to
the chain's region and writer and be a known event. Segments must be numbered without gaps and
none but the last may be empty. The sealed ``HEAD`` must match the chain: a
chain shorter than ``HEAD`` was truncated, a record at ``HEAD``'s position with
another hash was rewritten. One torn last line is a crash's residue.

``HEAD``'s seal key lives beside the chain, so the seal stops only someone who
cannot read that folder. Given the chain's latest anchor (``anchored=True``;
``broker.audit.anchor``), the same checks run against it, which that someone
cannot forge: the anchored record must be there with the anchored hash, the
chain must reach it, and nothing may follow a final anchor. Records after the
latest anchor are reported as ``unproven_records`` (an unsealed tail), and
each ``audit.tail_sealed`` event a restart chained is listed in ``tail_seals``.
A region's verdict (``RegionVerdict``) lists every chain found in its audit
folder, the old single-chain layout read as ``main``'s (``broker.audit.chains``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from broker.audit.anchor import TAIL_EVENT
from broker.audit.chains import region_chains
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
from broker.models import Anchor
from broker.state import MAIN_WRITER, StateLayout, check_region
from broker.typing import WriterId


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
    """The outcome of verifying one chain, (``region``, ``writer``)."""

    region: str
    records: int
    last_hash: str
    problem: Problem | None = None
    sealed: bool = False
    unsealed_records: int = 0
    torn_tail: bool = False
    anchored_seq: int | None = None
    """The latest anchor's seq; None when not checked or the region has no anchor."""
    unproven_records: int = 0
    tail_seals: tuple[tuple[int, int], ...] = ()
    """``(after_seq, records)`` of each tail a restart sealed after a crash."""
    writer: str = MAIN_WRITER

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
            "region": self.region, "writer": self.writer, "ok": self.ok, "records": self.records,
            "last_hash": self.last_hash, "sealed": self.sealed,
            "unsealed_records": self.unsealed_records, "torn_tail": self.torn_tail,
            "anchored_seq": self.anchored_seq, "unproven_records": self.unproven_records,
            "tail_seals": [{"after_seq": a, "records": n} for a, n in self.tail_seals],
            "problem": problem,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class RegionVerdict:
    """Every chain of one region, verified: ok only when each of them is."""

    region: str
    chains: tuple[VerifyResult, ...]

    @property
    def ok(self) -> bool:
        """True when every chain is intact."""
        return all(chain.ok for chain in self.chains)

    @property
    def records(self) -> int:
        """The records of all chains together."""
        return sum(chain.records for chain in self.chains)

    @property
    def broken(self) -> tuple[VerifyResult, ...]:
        """The chains that are not intact."""
        return tuple(chain for chain in self.chains if not chain.ok)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary, one entry per chain."""
        return {
            "region": self.region, "ok": self.ok, "records": self.records,
            "chains": [chain.to_dict() for chain in self.chains],
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
    anchor: Anchor | None = None
    tail_seals: list[tuple[int, int]] = field(default_factory=list)


def verify_region(
    state_dir: Path,
    region: str,
    secrets: SecretSource | None,
    anchors: Mapping[WriterId, Anchor | None] | None = None,
) -> RegionVerdict:
    """Verify every chain of ``region``; seals are checked when ``secrets`` is given.

    Each chain whose writer is a key of ``anchors`` is checked against that
    anchor as well (its latest; None: it has none, so every record is unproven),
    and an anchored chain whose folder is gone is verified as empty: truncated."""
    secret = None if secrets is None else secrets.secret(check_region(region))
    found = dict(anchors or {})
    folders = region_chains(state_dir, region)
    for writer in found.keys() - folders.keys():
        folders[writer] = StateLayout(state_dir).audit_chain(region, writer)
    return RegionVerdict(
        region,
        tuple(
            verify_directory(f, region, secret, found.get(w), anchored=w in found, writer=w)
            for w, f in sorted(folders.items())
        ),
    )


def verify_directory(
    directory: Path,
    region: str,
    secret: bytes | None,
    anchor: Anchor | None = None,
    *,
    anchored: bool = False,
    writer: str = MAIN_WRITER,
) -> VerifyResult:
    """Verify one chain directory (``secret``: check HEAD's seal; ``None``: skip it).

    With ``anchored``, ``anchor`` is the chain's latest anchor (None: it has none,
    so every record is unproven)."""
    walk = _Walk(0, genesis(region, writer), anchor=anchor)
    head: Head | None = None
    chain = (region, writer)
    try:
        head = _head(directory, chain, secret)
        _scan(directory, chain, walk, head)
        _check_end(walk, head)
        _check_anchor_end(walk)
    except _Bad as bad:
        return VerifyResult(
            region, walk.seq, walk.hash, bad.problem, secret is not None, writer=writer
        )
    return VerifyResult(
        region, walk.seq, walk.hash, None, secret is not None,
        walk.seq - (head.seq if head is not None else 0), walk.torn_at is not None,
        anchor.seq if anchor else None,
        walk.seq - (anchor.seq if anchor else 0) if anchored else 0, tuple(walk.tail_seals),
        writer,
    )  # fmt: skip


def _head(directory: Path, chain: tuple[str, str], secret: bytes | None) -> Head | None:
    try:
        found = read_head(directory)
    except (OSError, ValueError):
        raise _Bad(Problem(HEAD_NAME, 0, "HEAD is unreadable")) from None
    if found is None:
        return None
    head, seal = found
    if head.region != chain[0]:
        raise _Bad(Problem(HEAD_NAME, 0, "HEAD belongs to another region"))
    if head.writer != chain[1]:
        raise _Bad(Problem(HEAD_NAME, 0, "HEAD belongs to another writer's chain"))
    if secret is not None and not head_sealed(head, seal, secret):
        raise _Bad(Problem(HEAD_NAME, 0, "HEAD seal does not match: HEAD was altered"))
    return head


def _scan(directory: Path, chain: tuple[str, str], walk: _Walk, head: Head | None) -> None:
    segments = list_segments(directory)
    for position, (index, path) in enumerate(segments, start=1):
        if index != position:
            missing = segment_name(position)
            raise _Bad(Problem(path.name, 1, f"segment {missing} is missing before this one"))
        walk.segment, walk.line = index, 0
        with path.open("rb") as stream:
            _scan_lines(stream, path.name, chain, walk, head)
        if walk.line == 0 and position != len(segments):
            raise _Bad(Problem(path.name, 1, "segment is empty"))


def _scan_lines(
    stream: BinaryIO, name: str, chain: tuple[str, str], walk: _Walk, head: Head | None
) -> None:
    for raw in stream:
        if walk.torn_at is not None:  # a torn line followed by more data is no crash residue
            raise _Bad(walk.torn_at)
        if not raw.endswith(b"\n"):
            walk.torn_at = Problem(name, walk.line + 1, "incomplete record")
            continue
        record, reason = check_line(raw[:-1], walk.seq + 1, walk.hash, *chain)
        if record is None:
            raise _Bad(Problem(name, walk.line + 1, reason))
        walk.seq, walk.hash, walk.line = walk.seq + 1, record["hash"], walk.line + 1
        if head is not None and walk.seq == head.seq:
            _check_at_head(walk, head, name)
        if (
            walk.anchor is not None
            and walk.seq == walk.anchor.seq
            and walk.hash != walk.anchor.hash
        ):
            raise _Bad(Problem(name, walk.line, "record differs from its anchor: rewritten"))
        if record["event"] == TAIL_EVENT:
            walk.tail_seals.append((int(record.get("after_seq", 0)), int(record.get("records", 0))))


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


def _check_anchor_end(walk: _Walk) -> None:
    anchor = walk.anchor
    if anchor is None:
        return
    where = segment_name(max(walk.segment, 1))
    if walk.seq < anchor.seq:
        reason = f"truncated: records {walk.seq + 1} to {anchor.seq} are anchored but missing"
        raise _Bad(Problem(where, walk.line + 1, reason))
    if anchor.final and walk.seq > anchor.seq:
        reason = f"{walk.seq - anchor.seq} records follow the final anchor of a clean stop"
        raise _Bad(Problem(where, walk.line, reason))
