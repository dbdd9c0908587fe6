"""Consent requests through the service layer, over a real SQLite store and audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from broker.audit import Auditor
from broker.auth.principal import Principal
from broker.ca import CARegistry
from broker.clock import FakeClock
from broker.config import Config
from broker.demo import demo_document
from broker.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from broker.events import MemorySink, TeeSink
from broker.keys import LocalKeyStore
from broker.notify.base import ConsentRequestNotice
from broker.policy import AccessRequest, PolicyConfig, decide
from broker.service.consent_requests import (
    MAX_REQUEST_SECONDS,
    PENDING_SECONDS,
    ConsentRequestService,
    RequestFilter,
)
from broker.service.context import Context
from broker.store.import_bundle import parse_bundle
from broker.store.sqlite.store import SqliteStore
from broker.typing import OrgId, Role, Subject, TicketId

START = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
REASON = "Customer asked via ops@example.com, call +49 30 901820 back"
RAW = ("ops@example.com", "901820")
HOUR = 3600


def who(subject: str, role: Role = "engineer", org: str | None = None) -> Principal:
    """A caller."""
    return Principal(Subject(subject), role, None if org is None else OrgId(org))


US_ENG = who("eng-us-1")
ACME_ADMIN = who("cust-admin-1", "customer_admin", "acme-de")
BANK_ADMIN = who("cust-admin-2", "customer_admin", "bank-de")
OPS = who("ops-1", "ops")


@dataclass
class Notices:
    """A notifier that keeps what it is told (or fails, when asked to)."""

    sent: list[ConsentRequestNotice] = field(default_factory=list)
    fail: bool = False

    async def consent_requested(self, notice: ConsentRequestNotice) -> None:
        """Keep the notice, or fail as a dead webhook would."""
        if self.fail:
            raise OSError("webhook down")
        self.sent.append(notice)


@dataclass
class World:
    """The service and the handles the tests look at."""

    service: ConsentRequestService
    store: SqliteStore
    clock: FakeClock
    events: MemorySink
    notices: Notices
    auditor: Auditor
    state: Path

    async def ask(self, ticket: str = "T-1001", seconds: int = 2 * HOUR) -> Any:
        """The US engineer asks for consent on ``ticket``."""
        return await self.service.request(US_ENG, TicketId(ticket), seconds, REASON)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """The demo world in a fresh store, a real audit trail and a recording notifier."""
    clock = FakeClock(START)
    store = SqliteStore(tmp_path / "broker.db", clock=clock)
    await store.import_bundle(parse_bundle(demo_document()))
    events, auditor, notices = MemorySink(), Auditor(tmp_path, clock), Notices()
    cas = CARegistry(LocalKeyStore(tmp_path), clock)
    ctx = Context(
        Config(state_dir=tmp_path),
        store,
        cas,
        TeeSink(events, auditor),
        clock,
        PolicyConfig.from_mapping({}),
        notifier=notices,
        redactor=auditor.redactor,
    )
    yield World(ConsentRequestService(ctx), store, clock, events, notices, auditor, tmp_path)
    await store.close()
    auditor.close()


class TestRequest:
    """Who may ask, for what, and what asking leaves behind."""

    async def test_pending_request_with_pseudonymised_reason(self, world: World) -> None:
        """The request names ticket, org, region, staff and country; the reason is scrubbed."""
        made = await world.ask()
        assert (made.state, made.ticket_id, made.org_id, made.region) == (
            "pending",
            "T-1001",
            "acme-de",
            "eu-central-1",
        )
        assert (made.staff_id, made.staff_country, made.duration_seconds) == (
            "eng-us-1",
            "US",
            7200,
        )
        assert made.expires_at == START + timedelta(seconds=PENDING_SECONDS)
        assert "email:" in made.reason
        assert "tel:" in made.reason
        assert not any(raw in made.reason for raw in RAW)
        assert await world.store.get_consent_request(made.id) == made

    async def test_request_is_audited_and_notified(self, world: World) -> None:
        """``consent.requested`` in the ticket's region with ids; a notice with a console link."""
        made = await world.ask()
        (event,) = world.events.of("consent.requested")
        assert (event["region"], event["consent_request_id"], event["staff_country"]) == (
            "eu-central-1",
            made.id,
            "US",
        )
        assert world.notices.sent == [
            ConsentRequestNotice(
                OrgId("acme-de"),
                made.region,
                made.id,
                made.ticket_id,
                f"/console/requests/{made.id}",
            )
        ]

    async def test_notifier_failure_keeps_request(self, world: World) -> None:
        """A notice that cannot be delivered does not undo the request."""
        world.notices.fail = True
        made = await world.ask()
        assert (await world.store.get_consent_request(made.id)).state == "pending"

    @pytest.mark.parametrize(
        ("staff", "ticket", "code"),
        [
            pytest.param("eng-de-1", "T-1001", "consent_not_needed", id="eea-staff"),
            pytest.param("eng-us-1", "T-2001", "consent_not_needed", id="us-ticket"),
            pytest.param("eng-br-1", "T-1001", "consent_cannot_allow", id="country-denied"),
            pytest.param("eng-us-1", "T-9999", "consent_cannot_allow", id="ticket-closed"),
        ],
    )
    async def test_refused_where_consent_is_not_the_answer(
        self, world: World, staff: str, ticket: str, code: str
    ) -> None:
        """Only a ``consent_required`` denial may become a request; nothing else is stored."""
        with pytest.raises(ConflictError) as caught:
            await world.service.request(who(staff), TicketId(ticket), HOUR, "needed")
        assert caught.value.code == code
        assert (await world.service.list(OPS)).items == []
        assert world.events.of("consent.requested") == []

    async def test_second_pending_request_refused(self, world: World) -> None:
        """One pending request per engineer and ticket."""
        await world.ask()
        with pytest.raises(ConflictError) as caught:
            await world.ask()
        assert caught.value.code == "consent_request_pending"

    @pytest.mark.parametrize(
        ("seconds", "reason", "field_name"),
        [
            pytest.param(59, "why", "duration_seconds", id="too-short"),
            pytest.param(MAX_REQUEST_SECONDS + 1, "why", "duration_seconds", id="past-seven-days"),
            pytest.param(HOUR, "  ", "reason", id="blank-reason"),
            pytest.param(HOUR, "x" * 501, "reason", id="long-reason"),
            pytest.param(HOUR, "a\x1bb", "reason", id="control-character"),
        ],
    )
    async def test_bad_input_names_its_field(
        self, world: World, seconds: int, reason: str, field_name: str
    ) -> None:
        """Duration and reason are checked before anything is read or written."""
        with pytest.raises(InputError) as caught:
            await world.service.request(US_ENG, TicketId("T-1001"), seconds, reason)
        assert caught.value.field == field_name

    @pytest.mark.parametrize("principal", [ACME_ADMIN, OPS], ids=["admin", "ops"])
    async def test_only_engineers_ask(self, world: World, principal: Principal) -> None:
        """Admins and ops are not engineers: 403."""
        with pytest.raises(ForbiddenError):
            await world.service.request(principal, TicketId("T-1001"), HOUR, "why")


class TestVisibility:
    """Engineers see their own, admins their org's (others' are unknown), ops all."""

    async def test_each_role_sees_its_share(self, world: World) -> None:
        """The US engineer's request: theirs, acme-de's admins', ops'; not bank-de's nor others'."""
        made = await world.ask()
        for principal in (US_ENG, ACME_ADMIN, OPS):
            assert [r.id for r in (await world.service.list(principal)).items] == [made.id]
            assert (await world.service.get(principal, made.id)).id == made.id
        for principal in (BANK_ADMIN, who("eng-in-1")):
            assert (await world.service.list(principal)).items == []
            with pytest.raises(NotFoundError) as caught:
                await world.service.get(principal, made.id)
            assert caught.value.code == "consent_request_not_found"

    async def test_filters(self, world: World) -> None:
        """State and ticket narrow a listing."""
        made = await world.ask()
        pending = RequestFilter(state="pending", ticket_id=TicketId("T-1001"))
        assert [r.id for r in (await world.service.list(OPS, pending)).items] == [made.id]
        denied = RequestFilter(state="denied")
        assert (await world.service.list(OPS, denied)).items == []


class TestApprove:
    """An admin of the ticket's org approves; the consent is made as a grant makes it."""

    async def test_approval_makes_the_consent_that_allows(self, world: World) -> None:
        """After approval the policy allows the engineer, on the basis of that consent."""
        made = await world.ask()
        approved = await world.service.approve(ACME_ADMIN, made.id)
        assert (approved.state, approved.granted_seconds, approved.decided_by) == (
            "approved",
            7200,
            "cust-admin-1",
        )
        consent = await world.store.get_consent(approved.consent_id or "")
        assert consent.expires_at == START + timedelta(hours=2)
        staff = await world.store.get_staff(made.staff_id)
        ticket = await world.store.get_ticket(made.ticket_id)
        org = await world.store.get_org(made.org_id)
        decision = decide(AccessRequest.of(org, ticket, staff, consent, START))
        assert (decision.allow, decision.basis, decision.consent_id) == (
            True,
            "consent",
            consent.id,
        )

    async def test_approval_is_audited_without_reason(self, world: World) -> None:
        """``consent.granted`` and ``consent.request_approved``: ids and durations only."""
        made = await world.ask()
        approved = await world.service.approve(ACME_ADMIN, made.id, HOUR)
        (granted,) = world.events.of("consent.granted")
        (event,) = world.events.of("consent.request_approved")
        assert granted["consent_id"] == event["consent_id"] == approved.consent_id
        assert (event["requested_s"], event["granted_s"], event["actor"]) == (
            7200,
            HOUR,
            "cust-admin-1",
        )
        assert all("reason" not in e for e in world.events.events)

    @pytest.mark.parametrize(
        "seconds", [7201, MAX_REQUEST_SECONDS + 1, 30], ids=["longer", "past-7-days", "too-short"]
    )
    async def test_duration_never_longer_than_asked(self, world: World, seconds: int) -> None:
        """An approval may shorten, never lengthen, and stays within the bounds."""
        made = await world.ask()
        with pytest.raises(InputError) as caught:
            await world.service.approve(ACME_ADMIN, made.id, seconds)
        assert caught.value.field == "duration_seconds"
        assert (await world.store.get_consent_request(made.id)).state == "pending"

    async def test_eea_only_org_must_waive(self, world: World) -> None:
        """bank-de is EEA-only: the approval must waive it explicitly, as a grant must."""
        made = await world.ask("T-1002")
        assert await world.service.waiver_needed(BANK_ADMIN, made.id)
        assert not await world.service.waiver_needed(ACME_ADMIN, (await world.ask("T-1001")).id)
        with pytest.raises(InputError) as caught:
            await world.service.approve(BANK_ADMIN, made.id)
        assert caught.value.field == "waives_eea_only"
        approved = await world.service.approve(BANK_ADMIN, made.id, waives_eea_only=True)
        assert (await world.store.get_consent(approved.consent_id or "")).waives_eea_only

    @pytest.mark.parametrize(
        ("principal", "error"),
        [
            pytest.param(BANK_ADMIN, NotFoundError, id="other-org-admin"),
            pytest.param(US_ENG, ForbiddenError, id="engineer"),
            pytest.param(OPS, ForbiddenError, id="ops"),
        ],
    )
    async def test_only_the_orgs_admins_approve(
        self, world: World, principal: Principal, error: type[Exception]
    ) -> None:
        """Nobody else decides; another org's admin is told it does not exist."""
        made = await world.ask()
        with pytest.raises(error):
            await world.service.approve(principal, made.id)
        assert (await world.store.get_consent_request(made.id)).state == "pending"

    async def test_decided_once(self, world: World) -> None:
        """A denied request cannot be approved after (409), and no consent exists."""
        made = await world.ask()
        await world.service.deny(ACME_ADMIN, made.id, "Not for this ticket, ask bob@example.org")
        with pytest.raises(ConflictError) as caught:
            await world.service.approve(ACME_ADMIN, made.id)
        assert caught.value.code == "consent_request_decided"
        assert await world.store.list_consents(TicketId("T-1001")) == []


class TestDenyAndCancel:
    """A denial carries a pseudonymised reason; an engineer may withdraw their own."""

    async def test_denial_reason_pseudonymised(self, world: World) -> None:
        """The reason is stored scrubbed and audited not at all."""
        made = await world.ask()
        denied = await world.service.deny(ACME_ADMIN, made.id, "Ask bob@example.org first")
        assert denied.state == "denied"
        assert denied.deny_reason is not None
        assert "bob@example.org" not in denied.deny_reason
        (event,) = world.events.of("consent.request_denied")
        assert (event["consent_request_id"], event["actor"]) == (made.id, "cust-admin-1")

    async def test_cancel_own_only(self, world: World) -> None:
        """The requester cancels; another engineer is told it does not exist."""
        made = await world.ask()
        with pytest.raises(NotFoundError):
            await world.service.cancel(who("eng-in-1"), made.id)
        cancelled = await world.service.cancel(US_ENG, made.id)
        assert cancelled.state == "cancelled"
        assert len(world.events.of("consent.request_cancelled")) == 1


class TestExpiry:
    """Unanswered for 24 h: expired, not approvable, audited once."""

    async def test_expired_request_cannot_be_approved(self, world: World) -> None:
        """Past 24 h it reads expired; approving is 409 and sweeps it (one event)."""
        made = await world.ask()
        world.clock.advance(PENDING_SECONDS)
        assert (await world.service.get(US_ENG, made.id)).state == "expired"
        with pytest.raises(ConflictError) as caught:
            await world.service.approve(ACME_ADMIN, made.id)
        assert caught.value.code == "consent_request_expired"
        assert [e["consent_request_id"] for e in world.events.of("consent.request_expired")] == [
            made.id
        ]
        assert await world.service.expire_due() == []
        assert await world.store.list_consents(TicketId("T-1001")) == []

    async def test_sweep_audits_each_once(self, world: World) -> None:
        """``expire_due`` moves due requests and emits one event each."""
        made = await world.ask()
        assert await world.service.expire_due() == []
        world.clock.advance(PENDING_SECONDS + 1)
        assert [r.id for r in await world.service.expire_due()] == [made.id]
        assert len(world.events.of("consent.request_expired")) == 1

    async def test_background_sweep(self, world: World) -> None:
        """``expire_every`` records the expiry once its clock passes 24 h, then keeps going."""
        made = await world.ask()
        task = asyncio.create_task(world.service.expire_every(3600))
        try:
            for _ in range(500):
                if world.events.of("consent.request_expired"):
                    break
                await asyncio.sleep(0.01)
        finally:
            task.cancel()
        assert [e["consent_request_id"] for e in world.events.of("consent.request_expired")] == [
            made.id
        ]


class TestPrivacy:
    """The reason's email and phone never reach the store file, the trail or an event raw."""

    async def test_no_raw_reason_anywhere(self, world: World) -> None:
        """Every byte under the state folder and every event, searched for the raw values."""
        made = await world.ask()
        await world.service.deny(ACME_ADMIN, made.id, "Call +49 30 901820 or ops@example.com")
        world.auditor.flush()
        blobs = [p.read_bytes() for p in world.state.rglob("*") if p.is_file()]
        assert blobs
        for raw in RAW:
            assert not any(raw.encode() in blob for blob in blobs)
            assert raw not in repr(world.events.events)
