"""Tests for broker.audit.chain: batching, rotation, sealing and crash recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from broker.audit.chain import ChainConfig, ChainWriter
from broker.audit.segments import genesis, read_head
from broker.audit.verify import verify_directory
from broker.errors import UnavailableError
from broker.typing import Region
from tests.fixtures.waiting import poll_until

ROOT = Path(__file__).resolve().parents[2]
"""The project's root, where the killed child imports these helpers from."""
REGION = Region("eu-west-3")
SECRET = b"s" * 32


def writer(directory, **config):
    return ChainWriter(directory, REGION, SECRET, ChainConfig(**config))


def append(chain, count, start=0):
    return [
        chain.append("2025-01-01T00:00:00.000000Z", "session.closed", {"session_id": f"s{i}"})
        for i in range(start, start + count)
    ]


def verified(directory):
    result = verify_directory(directory, REGION, SECRET)
    assert result.ok, result.problem
    return result


def wait_for(condition):
    """Poll ``condition`` for up to 10 s (the flusher runs on its own thread)."""
    return poll_until(condition, 10.0)


def _refuses(chain):
    try:
        append(chain, 1, start=99)
    except UnavailableError:
        return True
    return False


def segments(directory):
    return sorted(p.name for p in directory.glob("*.jsonl"))


class TestAppend:
    """Records link into one chain and are sealed per batch."""

    def test_records_link_from_the_regions_genesis(self, tmp_path):
        """seq counts up, each prev is the previous hash, the first is genesis."""
        chain = writer(tmp_path)
        records = append(chain, 3)
        chain.close()
        assert [r["seq"] for r in records] == [1, 2, 3]
        assert records[0]["prev"] == genesis(REGION)
        assert records[1]["prev"] == records[0]["hash"]
        assert all(r["region"] == REGION for r in records)
        assert verified(tmp_path).records == 3

    def test_a_full_batch_is_written_and_only_a_flush_seals_it(self, tmp_path):
        """Below the batch size nothing is written. A full batch is written on the
        writer's own thread (the appender does not wait), not synced or sealed:
        ``HEAD`` moves at the next flush, which the auditor runs every second."""
        chain = writer(tmp_path, batch_size=3)
        append(chain, 2)
        assert not (tmp_path / "00000001.jsonl").exists()
        append(chain, 1, start=2)
        assert wait_for(lambda: _lines(tmp_path / "00000001.jsonl") == 3)
        assert read_head(tmp_path)[0].seq == 0
        chain.flush()
        assert read_head(tmp_path)[0].seq == 3
        chain.close()

    def test_append_never_waits_for_the_disk(self, tmp_path, monkeypatch):
        """While the flusher thread hangs in an fsync, appends go on.

        (A full batch is only written; the fsync that hangs here is the new
        segment's directory entry, the first the flusher makes.)

        The main process appends from the event loop that relays the
        gateways' terminals; a slow disk must not stall it."""
        chain = writer(tmp_path, batch_size=1)
        release, syncing = threading.Event(), threading.Event()
        real_fsync = os.fsync

        def slow_fsync(fd):
            if not syncing.is_set():  # the first one hangs (until released, 10 s at most)
                syncing.set()
                release.wait(10)
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", slow_fsync)
        append(chain, 1)  # a full batch: the flusher starts a segment, and hangs in fsync
        assert syncing.wait(10)
        appended = append(chain, 20, start=1)  # returns while the disk hangs
        assert read_head(tmp_path)[0].seq == 0
        release.set()
        chain.flush()
        chain.close()
        assert appended[-1]["seq"] == 21
        assert verified(tmp_path).records == 21

    @pytest.mark.parametrize("durability", ["write", "fsync"])
    def test_both_durability_levels_write_a_valid_chain(self, tmp_path, durability):
        """``write`` and ``fsync`` produce the same verifiable result."""
        chain = writer(tmp_path, durability=durability, batch_size=2)
        append(chain, 5)
        chain.close()
        assert verified(tmp_path).records == 5

    def test_any_json_value_is_chained_and_read_back(self, tmp_path):
        """Non-ASCII text, a lone surrogate, an integer past 64 bits and lists verify
        and read back as written (the fast encoder hands what it refuses on)."""
        fields = [
            {"session_id": "sé-1", "reasons": ["ü", "ok"]},
            {"session_id": "s-2", "count": 2**70},
            {"session_id": "s-\ud800", "reasons": []},
        ]
        chain = writer(tmp_path)
        stored = [chain.append(f"2025-01-01T00:00:0{i}.000000Z", "session.closed", f)
                  for i, f in enumerate(fields)]  # fmt: skip
        chain.close()
        assert verified(tmp_path).records == 3
        lines = (tmp_path / "00000001.jsonl").read_bytes().splitlines()
        assert [json.loads(line) for line in lines] == stored
        assert [{k: r[k] for k in f} for r, f in zip(stored, fields, strict=True)] == fields

    def test_rotation_by_count_and_size(self, tmp_path):
        """Segments roll over at the record limit, and at the byte limit."""
        chain = writer(tmp_path / "count", max_segment_records=4)
        append(chain, 10)
        chain.close()
        assert segments(tmp_path / "count") == [f"{i:08d}.jsonl" for i in (1, 2, 3)]
        chain = writer(tmp_path / "size", max_segment_bytes=1)
        append(chain, 3)
        chain.close()
        assert len(segments(tmp_path / "size")) == 3
        assert verified(tmp_path / "size").records == 3

    def test_reopening_continues_the_chain(self, tmp_path):
        """A new writer picks up seq, hash and segment where the last stopped."""
        chain = writer(tmp_path, max_segment_records=4)
        append(chain, 6)
        chain.close()
        again = writer(tmp_path, max_segment_records=4)
        records = append(again, 3, start=6)
        again.close()
        assert records[0]["seq"] == 7
        assert verified(tmp_path).records == 9
        assert len(segments(tmp_path)) == 3

    def test_closed_writer_refuses(self, tmp_path):
        """After close, appends fail closed."""
        chain = writer(tmp_path)
        chain.close()
        with pytest.raises(UnavailableError):
            append(chain, 1)

    def test_write_failure_fails_closed(self, tmp_path):
        """An unwritable segment fails the flush and disables the writer."""
        chain = writer(tmp_path, max_segment_records=1)
        append(chain, 1)
        chain.flush()
        (tmp_path / "00000002.jsonl").mkdir()  # the next segment cannot be opened
        append(chain, 1, start=1)
        with pytest.raises(UnavailableError) as caught:
            chain.flush()
        assert caught.value.code == "audit_unavailable"
        with pytest.raises(UnavailableError):
            append(chain, 1, start=2)
        (tmp_path / "00000002.jsonl").rmdir()
        assert verified(tmp_path).records == 1  # the sealed part stands

    def test_close_reports_its_own_failed_flush(self, tmp_path):
        """Records that close could not write are reported, not dropped quietly;
        closing a writer that had already failed is quiet."""
        chain = writer(tmp_path, max_segment_records=1)
        append(chain, 1)
        chain.flush()
        (tmp_path / "00000002.jsonl").mkdir()
        append(chain, 1, start=1)
        with pytest.raises(UnavailableError):
            chain.close()
        chain.close()
        with pytest.raises(UnavailableError):
            append(chain, 1, start=2)

    def test_failed_background_flush_fails_the_next_append(self, tmp_path):
        """A batch the flusher could not write makes later appends fail (fail closed)."""
        chain = writer(tmp_path, batch_size=1, max_segment_records=1)
        append(chain, 1)
        assert wait_for(lambda: _lines(tmp_path / "00000001.jsonl") == 1)
        (tmp_path / "00000002.jsonl").mkdir()
        append(chain, 1, start=1)  # queued for the flusher, which fails
        assert wait_for(lambda: _refuses(chain))
        chain.close()


_DIE_AFTER_A_BATCH = """
import os, signal, sys
from pathlib import Path
from tests.audit.test_chain import _lines, append, wait_for, writer
directory = Path(sys.argv[1])
chain = writer(directory, batch_size=3)
append(chain, 3)
assert wait_for(lambda: _lines(directory / "00000001.jsonl") == 3)
os.kill(os.getpid(), signal.SIGKILL)
"""
"""A child that fills one batch, waits until the flusher has written it, and is killed."""


def _lines(path):
    """How many complete lines the file at ``path`` holds (0 if it is not there)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def crash_after_write(directory, sealed, unsealed, **config):
    """A writer that got ``unsealed`` records onto disk but died before HEAD moved."""
    chain = writer(directory, **config)
    append(chain, sealed)
    chain.flush()
    head = (directory / "HEAD").read_bytes()
    append(chain, unsealed, start=sealed)
    chain.close()
    (directory / "HEAD").write_bytes(head)


class TestRecovery:
    """A crash loses at most the unflushed batch and never breaks the chain."""

    def test_torn_last_line_is_cut_and_chain_continues(self, tmp_path):
        """The half-written record goes; the next append links to the last whole one."""
        crash_after_write(tmp_path, 4, 0)
        with (tmp_path / "00000001.jsonl").open("ab") as stream:
            stream.write(b'{"seq":5,"time":"2025-01-01T0')
        assert verify_directory(tmp_path, REGION, SECRET).torn_tail
        chain = writer(tmp_path)
        (record,) = append(chain, 1, start=4)
        chain.close()
        assert record["seq"] == 5
        result = verified(tmp_path)
        assert (result.records, result.torn_tail) == (5, False)

    def test_complete_unsealed_records_are_kept_and_sealed(self, tmp_path):
        """Records written before the crash but after HEAD survive, and get sealed."""
        crash_after_write(tmp_path, 3, 2)
        assert verify_directory(tmp_path, REGION, SECRET).unsealed_records == 2
        writer(tmp_path).close()
        result = verified(tmp_path)
        assert (result.records, result.unsealed_records) == (5, 0)

    def test_a_killed_process_loses_no_record_of_a_full_batch(self, tmp_path):
        """A batch written by the flusher thread, never sealed, survives the process
        being killed: the next writer keeps it and seals it."""
        child = subprocess.run(
            [sys.executable, "-c", _DIE_AFTER_A_BATCH, str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        )  # fmt: skip
        assert child.returncode == -signal.SIGKILL, child.stderr
        assert read_head(tmp_path)[0].seq == 0
        writer(tmp_path).close()
        assert (read_head(tmp_path)[0].seq, verified(tmp_path).records) == (3, 3)

    def test_crash_in_a_new_segment(self, tmp_path):
        """A segment holding only a torn line is removed; writing resumes cleanly."""
        crash_after_write(tmp_path, 2, 0, max_segment_records=2)
        (tmp_path / "00000002.jsonl").write_bytes(b'{"seq":3,"ti')
        chain = writer(tmp_path, max_segment_records=2)
        append(chain, 3, start=2)
        chain.close()
        assert verified(tmp_path).records == 5
        assert segments(tmp_path) == ["00000001.jsonl", "00000002.jsonl", "00000003.jsonl"]

    def test_bad_unsealed_line_is_cut(self, tmp_path):
        """A complete but invalid line after HEAD is crash residue too."""
        crash_after_write(tmp_path, 2, 0)
        with (tmp_path / "00000001.jsonl").open("ab") as stream:
            stream.write(b"\x00\x00\x00\n")
        writer(tmp_path).close()
        assert verified(tmp_path).records == 2

    def test_lost_sealed_record_refuses_to_open(self, tmp_path):
        """Missing data at or before HEAD is not a crash: the writer will not open."""
        crash_after_write(tmp_path, 3, 0)
        data = (tmp_path / "00000001.jsonl").read_bytes()
        (tmp_path / "00000001.jsonl").write_bytes(data[:-10])
        with pytest.raises(UnavailableError) as caught:
            writer(tmp_path)
        assert caught.value.code == "audit_chain_broken"

    def test_altered_head_refuses_to_open(self, tmp_path):
        """A HEAD whose seal does not match is tampering."""
        crash_after_write(tmp_path, 3, 0)
        head = json.loads((tmp_path / "HEAD").read_bytes())
        head["seq"] = 2
        (tmp_path / "HEAD").write_text(json.dumps(head))
        with pytest.raises(UnavailableError, match="seal"):
            writer(tmp_path)

    def test_missing_head_with_segments_refuses_to_open(self, tmp_path):
        """Segments without HEAD cannot be trusted."""
        crash_after_write(tmp_path, 3, 0)
        (tmp_path / "HEAD").unlink()
        with pytest.raises(UnavailableError, match="HEAD is missing"):
            writer(tmp_path)

    def test_wrong_key_refuses_to_open(self, tmp_path):
        """A HEAD sealed under another key does not verify."""
        crash_after_write(tmp_path, 1, 0)
        with pytest.raises(UnavailableError):
            ChainWriter(tmp_path, REGION, b"x" * 32)
