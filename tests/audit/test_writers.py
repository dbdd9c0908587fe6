"""Several writers of one region: a chain each, never shared, verified and read together."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from broker.audit import Auditor, AuditQuery, FileSecretSource
from broker.audit.chains import region_chains
from broker.audit.reader import query_region
from broker.audit.segments import genesis, read_head
from broker.audit.verify import verify_region
from broker.cli import main
from broker.errors import InputError, UnavailableError
from broker.state import MAIN_WRITER, StateLayout, check_writer
from broker.typing import Region, WriterId
from tests.audit.conftest import REGION, fill
from tests.fixtures.threads import run_together

ROOT = Path(__file__).resolve().parents[2]
"""The project's root, where the writing children import the broker from."""
REPLICA = WriterId("eu-central-1-a1b2")


def chain_of(state, writer):
    return StateLayout(state).audit_chain(REGION, writer)


def verdict(state):
    return verify_region(state, REGION, FileSecretSource(state, create=False))


class TestWriterId:
    """A writer id names a folder and a log stream: it is checked before it is used."""

    @pytest.mark.parametrize("good", ["main", "api", "eu-central-1-a1b2", "a", "9" * 63])
    def test_good_ids_pass(self, good):
        """Lower-case letters, digits, inner hyphens, up to 63 characters."""
        assert check_writer(good) == good

    @pytest.mark.parametrize(
        "bad", ["", "Main", "-a", "a-", "a/b", "..", "a.b", "HEAD", "a" * 64, "a b", 7]
    )
    def test_bad_ids_are_refused_naming_the_writer(self, bad):
        """Anything else, a path's parts included, is an ``InputError`` on ``writer``."""
        with pytest.raises(InputError) as caught:
            check_writer(bad)
        assert caught.value.field == "writer"

    def test_the_auditor_checks_its_writer(self, state, clock):
        """An auditor refuses a bad writer before it writes anything."""
        with pytest.raises(InputError):
            Auditor(state, clock, writer=WriterId("../main"))
        assert not state.exists()

    def test_the_default_writer_is_main(self, state, clock):
        """Callers that name no writer keep working, as ``main``."""
        with Auditor(state, clock) as auditor:
            assert auditor.writer == MAIN_WRITER


class TestOwnChains:
    """Each writer appends to its own folder, with the chain id in every record and HEAD."""

    def test_two_writers_of_a_region_write_apart_at_once(self, make_auditor, state):
        """Threads of two auditors emit together: two chains, both intact, nothing shared."""
        auditors = [make_auditor(writer=w, batch_size=7) for w in (MAIN_WRITER, REPLICA)]
        run_together(*(functools.partial(fill, a, 200) for a in auditors))
        for auditor in auditors:
            auditor.close()
        result = verdict(state)
        assert result.ok
        assert [(c.writer, c.records) for c in result.chains] == [(REPLICA, 200), ("main", 200)]
        assert set(region_chains(state, REGION)) == {MAIN_WRITER, REPLICA}
        for writer in (MAIN_WRITER, REPLICA):
            head, _ = read_head(chain_of(state, writer))
            assert (head.writer, head.region, head.seq) == (writer, REGION, 200)

    def test_the_audit_folders_are_the_brokers_alone(self, make_auditor, state):
        """The region's audit folder and each chain folder are 0700 (others cannot list them)."""
        make_auditor(writer=REPLICA).emit("session.denied", region=REGION, reasons=["x"])
        for folder in (StateLayout(state).audit(REGION), chain_of(state, REPLICA)):
            assert folder.stat().st_mode & 0o777 == 0o700

    def test_records_name_their_writer_and_link_to_its_genesis(self, make_auditor, state):
        """The first record's ``prev`` is bound to (region, writer)."""
        record = make_auditor(writer=REPLICA).emit("session.denied", region=REGION, reasons=["x"])
        assert (record["writer"], record["prev"]) == (REPLICA, genesis(REGION, REPLICA))
        assert genesis(REGION, REPLICA) not in {genesis(REGION), genesis("us-east-1", REPLICA)}

    def test_one_writer_twice_at_once_is_refused(self, make_auditor):
        """A second process (or auditor) naming a writer that is open gets ``audit_writer_busy``."""
        first = make_auditor(writer=REPLICA)
        first.emit("session.denied", region=REGION, reasons=["x"])
        second = make_auditor(writer=REPLICA)
        with pytest.raises(UnavailableError) as caught:
            second.emit("session.denied", region=REGION, reasons=["y"])
        assert caught.value.code == "audit_writer_busy"
        first.close()
        assert second.emit("session.denied", region=REGION, reasons=["y"])["seq"] == 2

    async def test_two_anchoring_writers_at_once(self, make_auditor, anchors, state, capsys):
        """Both open, emit, anchor and stop at once on one store: each chain proven by its own."""

        async def run(writer):
            auditor = make_auditor(anchors, writer=writer)
            await auditor.open([Region(REGION)])
            for _ in range(5):
                fill(auditor, 3)
                await auditor.anchor()
            await auditor.aclose()

        await asyncio.gather(run(MAIN_WRITER), run(REPLICA))
        for writer in (MAIN_WRITER, REPLICA):
            last = await anchors.latest(Region(REGION), writer)
            assert (last.writer, last.seq, last.final) == (writer, 15, True)
        status = await asyncio.to_thread(main, ["audit", "verify", "--state", str(state)])
        assert status == 0, capsys.readouterr().out

    def test_writers_in_two_processes(self, state):
        """Two child processes, two writers, one region, one state folder: both chains intact."""
        children = [_write_as(state, w) for w in ("eu-central-1-p1", "eu-central-1-p2")]
        for child in children:
            _, err = child.communicate(timeout=120)
            assert child.returncode == 0, err
        result = verdict(state)
        assert result.ok
        assert [(c.writer, c.records) for c in result.chains] == [
            ("eu-central-1-p1", 150),
            ("eu-central-1-p2", 150),
        ]
        records = query_region(state, REGION, AuditQuery()).records
        assert len(records) == 300
        keys = [(r["time"], r["writer"], r["seq"]) for r in records]
        assert keys == sorted(keys)


def _write_as(state, writer):
    """Start a child process that writes 150 events as ``writer``."""
    argv = [sys.executable, "-c", _WRITE, str(state), writer, "150"]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


_WRITE = """
import sys
from pathlib import Path
from broker.audit import Auditor, ChainConfig
from broker.clock import SystemClock
from tests.audit.conftest import fill
state, writer, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with Auditor(state, SystemClock(), config=ChainConfig(batch_size=5), writer=writer) as auditor:
    for _ in range(count // 10):
        fill(auditor, 10)
        auditor.flush()
"""
"""A child process that writes ``count`` events as ``writer``, flushing every ten."""


class TestMovedBetweenChains:
    """The chain id is bound into every record, HEAD and the genesis: moves are caught."""

    @pytest.fixture
    def two(self, make_auditor, state):
        for writer in (MAIN_WRITER, REPLICA):
            auditor = make_auditor(writer=writer, max_segment_records=5)
            fill(auditor, 8)
            auditor.close()
        return state

    def test_a_segment_moved_to_another_writer_breaks_that_chain(self, two):
        """The replica's first segment copied over main's: main is broken, the replica not."""
        segment = "00000001.jsonl"
        shutil.copy(chain_of(two, REPLICA) / segment, chain_of(two, MAIN_WRITER) / segment)
        broken = {c.writer: c for c in verdict(two).chains if not c.ok}
        assert list(broken) == ["main"]
        assert "chain broken" in broken["main"].problem.reason

    def test_a_whole_chain_renamed_to_another_writer_is_caught(self, two):
        """The replica's folder, HEAD and all, presented as a third writer's: HEAD says whose."""
        chain_of(two, REPLICA).rename(chain_of(two, "eu-central-1-zz"))
        (bad,) = verdict(two).broken
        assert bad.writer == "eu-central-1-zz"
        assert bad.problem.reason == "HEAD belongs to another writer's chain"

    def test_a_record_relabelled_to_another_writer_is_caught(self, two):
        """Changing a record's ``writer`` breaks its hash."""
        path = chain_of(two, REPLICA) / "00000002.jsonl"
        path.write_bytes(path.read_bytes().replace(REPLICA.encode(), b"main", 1))
        (bad,) = verdict(two).broken
        assert (bad.writer, bad.problem.segment, bad.problem.line) == (REPLICA, path.name, 1)


class TestVerifyAndShowEveryChain:
    """``broker audit verify`` and ``show`` cover every writer's chain of a region."""

    @pytest.fixture
    async def both(self, make_auditor, anchors, clock, state):
        for offset, writer in enumerate((MAIN_WRITER, REPLICA)):
            auditor = make_auditor(anchors, writer=writer)
            await auditor.open([Region(REGION)])
            clock.advance(offset)
            auditor.emit("session.denied", region=REGION, ticket_id=f"T-{writer}", reasons=["x"])
            await auditor.aclose()
        return state

    def test_verify_reports_each_chain(self, both, capsys):
        """One line per chain, writer and head named; exit 0 when all are intact and proven."""
        assert main(["audit", "verify", "--state", str(both), "--json"]) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [(r["writer"], r["ok"], r["records"]) for r in lines] == [
            (REPLICA, True, 1),
            ("main", True, 1),
        ]
        assert all(r["unproven_records"] == 0 for r in lines)

    def test_one_broken_chain_fails_the_region(self, both, capsys):
        """The replica's chain edited: exit 1, it is named BROKEN, main's still ok."""
        path = chain_of(both, REPLICA) / "00000001.jsonl"
        path.write_bytes(path.read_bytes().replace(b'"x"', b'"y"'))
        assert main(["audit", "verify", "--state", str(both), "--region", REGION]) == 1
        out = capsys.readouterr().out
        assert f"{REGION}/{REPLICA}: BROKEN at 00000001.jsonl:1: hash mismatch" in out
        assert f"{REGION}/main: ok (1 records, head " in out

    def test_a_chain_deleted_whole_is_missed_by_nobody(self, both, capsys):
        """The replica's folder removed, HEAD and all: its anchors still name it, BROKEN."""
        shutil.rmtree(chain_of(both, REPLICA))
        assert main(["audit", "verify", "--state", str(both)]) == 1
        out = capsys.readouterr().out
        assert f"{REGION}/{REPLICA}: BROKEN at 00000001.jsonl:1: truncated: records 1 to 1" in out
        assert f"{REGION}/main: ok" in out

    def test_show_merges_the_chains_in_time_order(self, both, capsys):
        """Both writers' records, oldest first, each line naming region/writer#seq."""
        assert main(["audit", "show", "--state", str(both), "--region", REGION]) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line.split()[1] for line in out] == [f"{REGION}/main", f"{REGION}/{REPLICA}"]

    async def test_the_auditor_verifies_other_writers_against_their_anchors(
        self, both, make_auditor, anchors
    ):
        """``averify`` (the TIA's check) reads each other writer's latest anchor."""
        auditor = make_auditor(anchors)
        await auditor.open([Region(REGION)])
        assert [c.anchored_seq for c in (await auditor.averify(REGION)).chains] == [1, 1]
        for name in ("00000001.jsonl", "HEAD"):  # the whole chain gone, HEAD and all
            (chain_of(both, REPLICA) / name).unlink()
        (bad,) = (await auditor.averify(REGION)).broken
        assert bad.writer == REPLICA
        assert "anchored but missing" in bad.problem.reason
        await auditor.aclose()
