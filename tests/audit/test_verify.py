"""Tests for broker.audit.verify: every kind of tampering names the first bad record."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from broker.audit.keys import FileSecretSource
from broker.audit.verify import verify_directory, verify_region
from broker.state import StateLayout
from tests.audit.conftest import REGION, fill


def lines_of(path):
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path, lines):
    path.write_bytes(b"".join(lines))


def rehash(line):
    """Recompute a record's own hash after editing it (what a careful forger does)."""
    record = json.loads(line)
    record.pop("hash")
    prefix = json.dumps(record, separators=(",", ":")).encode()[:-1] + b","
    digest = hashlib.sha256(prefix).hexdigest()
    return prefix + b'"hash":"' + digest.encode() + b'"}\n', digest


def edit(line, **changes):
    record = json.loads(line)
    record.update(changes)
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


@pytest.fixture
def chain(make_auditor):
    """30 records in three sealed segments of ten; returns the audit directory."""
    auditor = make_auditor(batch_size=4, max_segment_records=10)
    fill(auditor, 30)
    auditor.close()
    return StateLayout(auditor.state_dir).audit_chain(REGION, "main")


def seg(chain, index):
    return chain / f"{index:08d}.jsonl"


def main_chain(state):
    """The verdict of the region's one chain, ``main``'s, checked with the region's key."""
    (result,) = verify_region(state, REGION, FileSecretSource(state, create=False)).chains
    assert result.writer == "main"
    return result


def check(chain, state, segment, line, reason):
    result = main_chain(state)
    assert not result.ok
    assert (result.problem.segment, result.problem.line) == (segment, line)
    assert reason in result.problem.reason
    return result


class TestIntact:
    """A chain as written verifies."""

    def test_fresh_chain_is_ok(self, chain, state):
        """All 30 records, sealed, nothing unsealed."""
        result = main_chain(state)
        assert result.ok
        assert (result.records, result.sealed, result.unsealed_records) == (30, True, 0)

    def test_missing_region_is_an_empty_ok_chain(self, state):
        """A region never written to has nothing to verify."""
        result = verify_directory(
            StateLayout(state).audit_chain("eu-west-1", "main"), "eu-west-1", None
        )
        assert result.ok
        assert result.records == 0

    def test_without_a_key_the_chain_is_still_checked(self, chain, state):
        """Verifying without the secret checks everything but the seal."""
        result = verify_directory(chain, REGION, None)
        assert result.ok
        assert not result.sealed


class TestRecordTampering:
    """Edits, deletions, insertions, reordering and truncation of records."""

    def test_edited_record(self, chain, state):
        """A changed field breaks that record's hash."""
        lines = lines_of(seg(chain, 2))
        lines[3] = edit(lines[3], staff_country="US")
        write_lines(seg(chain, 2), lines)
        check(chain, state, "00000002.jsonl", 4, "hash mismatch")

    def test_edited_and_rehashed_record(self, chain, state):
        """Re-hashing the edited record breaks the next record's link."""
        lines = lines_of(seg(chain, 2))
        lines[3], _ = rehash(edit(lines[3], staff_country="US"))
        write_lines(seg(chain, 2), lines)
        check(chain, state, "00000002.jsonl", 5, "chain broken")

    def test_rewritten_tail_is_caught_by_the_seal(self, chain, state):
        """Re-hashing every later record too is caught where HEAD is sealed."""
        prev = None
        for index in (2, 3):
            lines = lines_of(seg(chain, index))
            start = 3 if index == 2 else 0
            for i in range(start, len(lines)):
                changes = {"staff_country": "US"} if prev is None else {"prev": prev}
                lines[i], prev = rehash(edit(lines[i], **changes))
            write_lines(seg(chain, index), lines)
        check(chain, state, "00000003.jsonl", 10, "sealed HEAD")

    def test_deleted_record(self, chain, state):
        """A missing record shows as a sequence gap where it was."""
        lines = lines_of(seg(chain, 2))
        del lines[3]
        write_lines(seg(chain, 2), lines)
        check(chain, state, "00000002.jsonl", 4, "sequence mismatch")

    def test_inserted_copy(self, chain, state):
        """A duplicated record is out of sequence."""
        lines = lines_of(seg(chain, 2))
        lines.insert(3, lines[2])
        write_lines(seg(chain, 2), lines)
        check(chain, state, "00000002.jsonl", 4, "sequence mismatch")

    def test_inserted_forged_record(self, chain, state):
        """A forged record with the right seq and prev pushes the real one out of place."""
        lines = lines_of(seg(chain, 2))
        before = json.loads(lines[2])
        forged, _ = rehash(edit(lines[2], seq=before["seq"] + 1, prev=before["hash"]))
        lines.insert(3, forged)
        write_lines(seg(chain, 2), lines)
        check(chain, state, "00000002.jsonl", 5, "sequence mismatch")

    def test_reordered_records(self, chain, state):
        """Swapping two records breaks the sequence at the first of them."""
        lines = lines_of(seg(chain, 2))
        lines[3], lines[4] = lines[4], lines[3]
        write_lines(seg(chain, 2), lines)
        check(chain, state, "00000002.jsonl", 4, "sequence mismatch")

    def test_truncated_records(self, chain, state):
        """Dropping the last sealed records is truncation, named after the last kept."""
        write_lines(seg(chain, 3), lines_of(seg(chain, 3))[:7])
        check(chain, state, "00000003.jsonl", 8, "truncated")

    def test_truncated_mid_record(self, chain, state):
        """Cutting a sealed record in half is truncation at that line."""
        data = seg(chain, 3).read_bytes()
        seg(chain, 3).write_bytes(data[:-40])
        check(chain, state, "00000003.jsonl", 10, "truncated")

    def test_blank_line(self, chain, state):
        """An inserted empty line is malformed."""
        lines = lines_of(seg(chain, 1))
        lines.insert(5, b"\n")
        write_lines(seg(chain, 1), lines)
        check(chain, state, "00000001.jsonl", 6, "malformed")


class TestSegmentTampering:
    """Deleting, reordering, inserting, emptying and swapping whole segments."""

    def test_deleted_middle_segment(self, chain, state):
        """A numbering gap names the segment after it."""
        seg(chain, 2).unlink()
        check(chain, state, "00000003.jsonl", 1, "00000002.jsonl is missing")

    def test_deleted_last_segment(self, chain, state):
        """Losing the last segment is truncation where it began."""
        seg(chain, 3).unlink()
        check(chain, state, "00000003.jsonl", 1, "truncated")

    def test_all_segments_deleted(self, chain, state):
        """An empty directory with a HEAD beyond zero is truncated from the start."""
        for index in (1, 2, 3):
            seg(chain, index).unlink()
        check(chain, state, "00000001.jsonl", 1, "truncated")

    def test_renumbered_after_deletion(self, chain, state):
        """Deleting segment 2 and renaming 3 to 2 breaks the link at its first record."""
        seg(chain, 2).unlink()
        seg(chain, 3).rename(seg(chain, 2))
        check(chain, state, "00000002.jsonl", 1, "sequence mismatch")

    def test_swapped_segments(self, chain, state):
        """Reordering segments breaks the chain at the first moved one."""
        seg(chain, 2).rename(chain / "tmp")
        seg(chain, 3).rename(seg(chain, 2))
        (chain / "tmp").rename(seg(chain, 3))
        check(chain, state, "00000002.jsonl", 1, "sequence mismatch")

    def test_inserted_segment(self, chain, state):
        """A copied segment slipped in is out of sequence."""
        seg(chain, 3).rename(seg(chain, 4))
        shutil.copy(seg(chain, 2), seg(chain, 3))
        check(chain, state, "00000003.jsonl", 1, "sequence mismatch")

    def test_emptied_middle_segment(self, chain, state):
        """A middle segment cut to nothing is reported as empty."""
        seg(chain, 2).write_bytes(b"")
        check(chain, state, "00000002.jsonl", 1, "segment is empty")

    def test_segment_from_another_region(self, make_auditor, chain, state):
        """A chain is bound to its region: another region's segment does not link."""
        other = make_auditor(batch_size=4, max_segment_records=10)
        fill(other, 10, region="eu-west-1")
        other.close()
        shutil.copy(
            StateLayout(state).audit_chain("eu-west-1", "main") / "00000001.jsonl", seg(chain, 1)
        )
        check(chain, state, "00000001.jsonl", 1, "chain broken")


class TestHead:
    """The sealed HEAD."""

    def test_edited_head(self, chain, state):
        """Changing HEAD without the key breaks its seal."""
        head = json.loads((chain / "HEAD").read_bytes())
        head["seq"] = 20
        (chain / "HEAD").write_text(json.dumps(head))
        check(chain, state, "HEAD", 0, "seal")

    def test_deleted_head(self, chain, state):
        """Records without a HEAD cannot be trusted to be complete."""
        (chain / "HEAD").unlink()
        check(chain, state, "HEAD", 0, "missing")

    def test_torn_tail_after_head_is_crash_residue(self, chain, state):
        """A torn last line beyond HEAD is tolerated and reported."""
        with seg(chain, 3).open("ab") as stream:
            stream.write(b'{"seq":31,"time":"2025')
        result = main_chain(state)
        assert result.ok
        assert result.torn_tail

    def test_torn_line_followed_by_data_is_not(self, chain, state):
        """A record cut short mid-segment merges with the next line: a bad hash there."""
        lines = lines_of(seg(chain, 3))
        lines[4] = lines[4][:-20]
        write_lines(seg(chain, 3), lines)
        check(chain, state, "00000003.jsonl", 5, "hash mismatch")

    def test_torn_end_of_a_middle_segment(self, chain, state):
        """A segment whose last record is cut, with more segments after it, is corrupt."""
        data = seg(chain, 2).read_bytes()
        seg(chain, 2).write_bytes(data[:-30])
        check(chain, state, "00000002.jsonl", 10, "incomplete record")

    def test_result_serialises(self, chain, state):
        """``to_dict`` is JSON-ready and names the problem."""
        os.truncate(seg(chain, 3), 0)
        result = main_chain(state)
        data = json.loads(json.dumps(result.to_dict()))
        assert (data["ok"], data["writer"]) == (False, "main")
        assert data["problem"]["segment"] == "00000003.jsonl"
