"""A state folder from before writers: its one chain is ``main``'s, read in place and adopted."""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import pytest

from broker.audit import AuditQuery, FileSecretSource
from broker.audit.anchor import anchor_of
from broker.audit.chains import region_chains
from broker.audit.reader import query_region
from broker.audit.segments import HEAD_NAME, Head, encode_record, genesis, read_head
from broker.audit.verify import verify_region
from broker.errors import UnavailableError
from broker.state import StateLayout
from broker.typing import Region
from tests.audit.conftest import REGION


def write_legacy_chain(state, count):
    """What a broker before writers left: records and HEAD without ``writer``, in ``audit/``."""
    folder = StateLayout(state).audit(REGION)
    folder.mkdir(parents=True)
    secret = FileSecretSource(state).secret(Region(REGION))
    prev, lines = genesis(REGION), []
    for seq in range(1, count + 1):
        record = {"seq": seq, "time": f"2025-03-01T08:00:{seq:02d}.000000Z", "region": REGION,
                  "event": "session.closed", "session_id": f"s-{seq}", "prev": prev}  # fmt: skip
        line, prev = encode_record(record)
        lines.append(line)
    (folder / "00000001.jsonl").write_bytes(b"".join(lines[:3]))
    (folder / "00000002.jsonl").write_bytes(b"".join(lines[3:]))
    head = Head(REGION, 2, count - 3, sum(map(len, lines[3:])), count, prev)
    fields = {k: v for k, v in asdict(head).items() if k != "writer"}
    fields["seal"] = head.seal(secret, legacy=True)
    (folder / HEAD_NAME).write_text(json.dumps(fields, sort_keys=True) + "\n")
    return folder


def verdict(state):
    return verify_region(state, REGION, FileSecretSource(state, create=False))


@pytest.fixture
def legacy(state):
    write_legacy_chain(state, 5)
    return state


class TestReadInPlace:
    """Verify and read need no migration: the old layout reads as writer ``main``."""

    def test_it_verifies_as_main_seal_included(self, legacy):
        """One chain, ``main``'s, five records, sealed."""
        (chain,) = verdict(legacy).chains
        assert (chain.writer, chain.ok, chain.records, chain.sealed) == ("main", True, 5, True)

    def test_its_records_read_back(self, legacy):
        """``show`` and the API read it too."""
        records = query_region(legacy, REGION, AuditQuery()).records
        assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]

    def test_an_edit_is_still_caught(self, legacy):
        """The old layout gets no leniency beyond the missing writer field."""
        path = StateLayout(legacy).audit(REGION) / "00000002.jsonl"
        path.write_bytes(path.read_bytes().replace(b"s-4", b"s-9"))
        (chain,) = verdict(legacy).broken
        assert (chain.problem.segment, chain.problem.line) == ("00000002.jsonl", 1)


class TestAdoption:
    """``main``'s writer moves the old chain into ``audit/main/`` and continues it."""

    async def test_main_continues_the_old_chain_in_its_folder(self, legacy, make_auditor, anchors):
        """Anchored before writers (a row without writer): the chain goes on, proven."""
        head, _ = read_head(StateLayout(legacy).audit(REGION))
        await anchors.put(anchor_of(head, 1, "2025-03-01T08:01:00.000000Z", final=True))
        auditor = make_auditor(anchors)
        await auditor.open([Region(REGION)])
        auditor.emit("session.denied", region=REGION, reasons=["x"])
        await auditor.aclose()
        audit = StateLayout(legacy).audit(REGION)
        assert sorted(p.name for p in audit.iterdir()) == ["main"]
        head, _ = read_head(audit / "main")
        assert (head.writer, head.seq) == ("main", 6)
        (chain,) = verdict(legacy).chains
        assert (chain.ok, chain.records) == (True, 6)
        records = query_region(legacy, REGION, AuditQuery()).records
        assert [r.get("writer") for r in records] == [None] * 5 + ["main"]

    def test_another_writer_leaves_it_alone(self, legacy, make_auditor):
        """A replica opening beside the old chain writes its own; the old one is still main's."""
        auditor = make_auditor(writer="eu-central-1-a1b2")
        auditor.emit("session.denied", region=REGION, reasons=["x"])
        auditor.close()
        folders = region_chains(legacy, REGION)
        assert folders["main"] == StateLayout(legacy).audit(REGION)
        assert [(c.writer, c.records, c.ok) for c in verdict(legacy).chains] == [
            ("eu-central-1-a1b2", 1, True),
            ("main", 5, True),
        ]

    @pytest.mark.parametrize("linked", ["one segment", "all and HEAD"])
    def test_a_crash_during_adoption_is_finished_by_the_next_open(
        self, legacy, make_auditor, linked
    ):
        """Stopped before or after the commit (HEAD linked): readers see one whole chain,
        and the next open completes the move."""
        audit = StateLayout(legacy).audit(REGION)
        (audit / "main").mkdir()
        names = ["00000001.jsonl"] if linked == "one segment" else ["00000001.jsonl",
                 "00000002.jsonl", HEAD_NAME]  # fmt: skip
        for name in names:
            os.link(audit / name, audit / "main" / name)
        (chain,) = verdict(legacy).chains
        assert (chain.ok, chain.records) == (True, 5)
        assert make_auditor().emit("session.denied", region=REGION, reasons=["x"])["seq"] == 6
        assert sorted(p.name for p in audit.iterdir()) == ["main"]

    def test_different_files_in_both_layouts_are_refused(self, legacy, make_auditor):
        """A segment in ``main/`` that is not the old one: not ours to drop; fail closed."""
        audit = StateLayout(legacy).audit(REGION)
        (audit / "main").mkdir()
        (audit / "main" / "00000001.jsonl").write_bytes(b"other\n")
        with pytest.raises(UnavailableError, match="differs"):
            make_auditor().emit("session.denied", region=REGION, reasons=["x"])
        assert (audit / "00000001.jsonl").exists()

    def test_old_segments_without_head_are_refused(self, legacy, make_auditor):
        """No HEAD to commit: the writer refuses rather than start a fresh chain beside them."""
        (StateLayout(legacy).audit(REGION) / HEAD_NAME).unlink()
        with pytest.raises(UnavailableError) as caught:
            make_auditor().emit("session.denied", region=REGION, reasons=["x"])
        assert caught.value.code == "audit_chain_broken"
