"""Anchors against the two attacks on a chain whose folder (and its key) an attacker can write.

The attacker here can do anything to ``<state>/regions/<region>/audit`` and
reads the region's ``audit-key``, so they can chain records and re-seal
``HEAD`` exactly as the writer does. What they cannot touch is the anchor.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from broker.audit.anchor import TAIL_EVENT, unproven
from broker.audit.keys import FileSecretSource
from broker.audit.segments import (
    Head,
    genesis,
    head_sealed,
    list_segments,
    read_head,
    write_head,
)
from broker.cli import main
from broker.errors import UnavailableError
from broker.models import Anchor
from broker.state import MAIN_WRITER, StateLayout
from broker.typing import Region
from tests.audit.conftest import REGION, fill
from tests.audit.forgery import forge_append, forge_rewrite, forge_truncate, records_of


async def verify(state, capsys, *extra: str) -> tuple[int, str]:
    """``broker audit verify`` of the region (on a thread: it runs its own loop)."""
    argv = ["audit", "verify", "--state", str(state), "--region", REGION, *extra]
    status = await asyncio.to_thread(main, argv)
    return status, capsys.readouterr().out


async def ten_records(make_auditor, anchors):
    """An anchored auditor, opened, with ten records emitted."""
    auditor = make_auditor(anchors)
    await auditor.open([Region(REGION)])
    fill(auditor, 10)
    return auditor


@pytest.fixture
async def stopped(make_auditor, state, anchors):
    """Ten records, anchored, then a clean stop (the last anchor is final)."""
    await (await ten_records(make_auditor, anchors)).aclose()
    return state


@pytest.fixture
async def crashed(make_auditor, state, anchors):
    """Ten records anchored, then the process died: no final anchor."""
    auditor = await ten_records(make_auditor, anchors)
    await auditor.anchor()
    auditor.close()  # the files are whole; the anchor store never hears of a stop
    return state


class TestAppendAfterHead:
    """Records appended after the sealed HEAD are never called ok."""

    async def test_the_old_seal_alone_accepts_the_forgery(self, crashed, capsys):
        """Why anchors: the folder's own seal verifies the forged tail (the attack works)."""
        forge_append(crashed, 2)
        head, seal = read_head(StateLayout(crashed).audit_chain(REGION, "main"))
        assert head.seq == 12
        assert head_sealed(head, seal, FileSecretSource(crashed).secret(Region(REGION)))
        (crashed / "broker.db").rename(crashed / "elsewhere.db")
        status, out = await verify(crashed, capsys, "--accept-unsealed")
        assert status == 0
        assert "BROKEN" not in out

    async def test_after_a_crash_the_tail_is_unproven_and_exits_1(self, crashed, capsys):
        """Two forged records after the last anchor: UNSEALED TAIL, counted, exit 1."""
        forge_append(crashed, 2)
        status, out = await verify(crashed, capsys)
        assert status == 1
        assert f"{REGION}/main: UNSEALED TAIL: 2 records after the last anchor (seq 10)" in out

    async def test_accept_unsealed_exits_0_and_still_reports(self, crashed, capsys):
        """``--accept-unsealed`` changes the status only; the count is still printed."""
        forge_append(crashed, 2)
        status, out = await verify(crashed, capsys, "--accept-unsealed", "--json")
        result = json.loads(out)
        assert (status, result["ok"], result["unproven_records"]) == (0, True, 2)

    async def test_a_restart_discloses_the_tail_before_sealing_it(
        self, crashed, make_auditor, anchors, capsys
    ):
        """The restart chains ``audit.tail_sealed`` (2 records after seq 10), then anchors."""
        forge_append(crashed, 2)
        auditor = make_auditor(anchors)
        await auditor.open([Region(REGION)])
        await auditor.aclose()
        marker = json.loads(records_of(crashed)[-1])
        assert (marker["event"], marker["records"], marker["after_seq"]) == (TAIL_EVENT, 2, 10)
        status, out = await verify(crashed, capsys)
        assert status == 0
        assert "2 records after seq 10 sealed at a restart after a crash" in out

    async def test_after_a_clean_stop_any_tail_is_tampering(self, stopped, capsys):
        """The broker wrote nothing after its final anchor: verify says BROKEN."""
        forge_append(stopped, 1)
        status, out = await verify(stopped, capsys)
        assert status == 1
        assert "BROKEN at" in out
        assert "1 records follow the final anchor" in out


class TestTruncateAndReseal:
    """A chain cut short and re-sealed with the folder's key is caught by the anchor."""

    async def test_the_folder_seal_alone_accepts_it(self, stopped, capsys):
        """Why anchors: without one, the re-sealed short chain verifies."""
        forge_truncate(stopped, 3)
        (stopped / "broker.db").rename(stopped / "elsewhere.db")
        status, out = await verify(stopped, capsys, "--accept-unsealed")
        assert status == 0
        assert "BROKEN" not in out
        assert "UNSEALED TAIL: 7 records with no anchor at all are unproven" in out

    async def test_verify_names_the_missing_records(self, stopped, capsys):
        """Records 8 to 10 were anchored; the chain ends at 7."""
        forge_truncate(stopped, 3)
        status, out = await verify(stopped, capsys)
        assert status == 1
        assert "truncated: records 8 to 10 are anchored but missing" in out

    async def test_truncating_everything_is_caught_too(self, crashed, capsys):
        """Even an empty chain (no segments, genesis HEAD) contradicts an anchor at seq 10."""
        directory = StateLayout(crashed).audit_chain(REGION, "main")
        for _, path in list_segments(directory):
            path.unlink()
        genesis_head = Head(REGION, 1, 0, 0, 0, genesis(REGION))
        write_head(
            directory, genesis_head, FileSecretSource(crashed).secret(Region(REGION)), sync=False
        )
        status, out = await verify(crashed, capsys)
        assert status == 1
        assert "BROKEN" in out


class TestRewriteAndReseal:
    """The anchored record rewritten, the chain re-hashed and re-sealed: caught."""

    async def test_verify_finds_the_anchored_record_changed(self, stopped, capsys):
        """Record 10 is the anchored one; its new hash differs from the anchor's."""
        forge_rewrite(stopped, 9)
        status, out = await verify(stopped, capsys)
        assert status == 1
        assert "00000001.jsonl:10: record differs from its anchor: rewritten" in out


class TestTheWriterRefuses:
    """The broker does not start writing on a chain its anchor contradicts."""

    async def test_only_the_broken_region_is_refused(self, stopped, make_auditor, anchors):
        """Another region opened alongside works; the broken one refuses every event."""
        forge_truncate(stopped, 3)
        auditor = make_auditor(anchors)
        with pytest.raises(UnavailableError, match="truncated"):
            await auditor.open([Region(REGION), Region("us-east-1")])
        assert auditor.emit("session.denied", region="us-east-1", reasons=["x"])["seq"] == 1
        assert not auditor.writable(REGION)
        with pytest.raises(UnavailableError):
            auditor.emit("session.denied", region=REGION, reasons=["x"])
        await auditor.aclose()
        assert (
            await anchors.latest(Region(REGION), MAIN_WRITER)
        ).seq == 10  # nothing anchored over it

    @pytest.mark.parametrize(
        ("forge", "why"),
        [
            (lambda state: forge_truncate(state, 3), "truncated"),
            (lambda state: forge_rewrite(state, 9), "anchored record"),
            (lambda state: forge_append(state, 1), "follow the final anchor"),
        ],
        ids=["truncated", "rewritten", "appended-after-a-clean-stop"],
    )
    async def test_open_fails_closed(self, stopped, make_auditor, anchors, forge, why):
        """``open`` raises ``audit_chain_broken`` naming why; nothing is written."""
        forge(stopped)
        before = records_of(stopped)
        with pytest.raises(UnavailableError, match=why) as refused:
            await make_auditor(anchors).open([Region(REGION)])
        assert refused.value.code == "audit_chain_broken"
        assert records_of(stopped) == before


class TestAnchoring:
    """When the auditor anchors, and what ``unproven`` counts."""

    async def test_the_auditors_own_verify_checks_its_last_anchor(self, make_auditor, anchors):
        """A running broker's chain rewritten under it fails ``Auditor.verify`` (the TIA's)."""
        auditor = await ten_records(make_auditor, anchors)
        await auditor.anchor()
        assert auditor.verify(REGION).ok
        forge_rewrite(auditor.state_dir, 9)
        (result,) = auditor.verify(REGION).broken
        assert result.problem.reason == "record differs from its anchor: rewritten"
        auditor.close()

    async def test_each_pass_anchors_a_moved_head_once(self, make_auditor, anchors):
        """A pass after new records writes one anchor at the head; an idle pass writes none."""
        auditor = make_auditor(anchors)
        await auditor.open([Region(REGION)])
        fill(auditor, 4)
        await auditor.anchor()
        first = await anchors.latest(Region(REGION), MAIN_WRITER)
        await auditor.anchor()
        assert first == await anchors.latest(Region(REGION), MAIN_WRITER)
        assert (first.number, first.seq, first.final) == (2, 4, False)
        await auditor.aclose()
        last = await anchors.latest(Region(REGION), MAIN_WRITER)
        assert (last.number, last.seq, last.final) == (3, 4, True)

    async def test_a_region_opened_by_an_event_is_checked_at_the_next_pass(
        self, crashed, make_auditor, anchors
    ):
        """Lazily opened (an event for it came first): the tail is disclosed all the same."""
        forge_append(crashed, 1)
        auditor = make_auditor(anchors)
        fill(auditor, 1)
        await auditor.anchor()
        await auditor.aclose()
        events = [json.loads(line)["event"] for line in records_of(crashed)[-2:]]
        assert events == ["session.issued", TAIL_EVENT]

    def test_an_unanchored_chain_is_all_unproven(self, tmp_path):
        """No anchor: every record is unproven."""
        assert unproven(tmp_path, Head(REGION, 1, 3, 300, 3, "0" * 64), None) == 3

    def test_a_final_anchor_with_nothing_after_is_fine(self, tmp_path):
        """At seq 0 the anchored hash is the region's genesis."""
        anchor = Anchor(Region(REGION), 1, 0, genesis(REGION), 1, 0, 0, "t", True)
        assert unproven(tmp_path, Head(REGION, 1, 0, 0, 0, genesis(REGION)), anchor) == 0


class _Flaky:
    """An ``AuditAnchor`` that is unreachable while ``down`` (its store, KMS or CloudWatch)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.down = False

    async def put(self, anchor) -> None:
        if self.down:
            raise UnavailableError("audit_anchor_failed", "anchor unreachable")
        await self.inner.put(anchor)

    async def latest(self, region, writer):
        if self.down:
            raise UnavailableError("audit_anchor_failed", "anchor unreachable")
        return await self.inner.latest(region, writer)

    async def writers(self, region):
        if self.down:
            raise UnavailableError("audit_anchor_failed", "anchor unreachable")
        return await self.inner.writers(region)


class TestAnchorUnreachable:
    """The anchor place away for a while: events still chain, the gap shows, then closes."""

    async def test_the_tail_is_unproven_until_the_anchor_returns(
        self, make_auditor, anchors, state, capsys
    ):
        """Passes fail (raising), the trail keeps its events; the first pass back anchors all."""
        flaky = _Flaky(anchors)
        auditor = make_auditor(flaky)
        await auditor.open([Region(REGION)])
        flaky.down = True
        fill(auditor, 3)
        with pytest.raises(UnavailableError):
            await auditor.anchor()
        status, out = await verify(state, capsys)
        assert status == 1
        assert "UNSEALED TAIL: 3 records" in out
        flaky.down = False
        await auditor.anchor()
        status, out = await verify(state, capsys)
        assert status == 0
        assert out.startswith(f"{REGION}/main: ok (3 records, head ")
        await auditor.aclose()
