"""Contract: reference data, imports, unknown ids and an unreachable backend."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from broker.errors import InputError, NotFoundError, UnavailableError
from broker.models import Org, Target, Ticket
from broker.store.base import ImportBundle, ImportCounts, SessionQuery, SettingChange, Store
from broker.typing import ConsentId, OrgId, SessionId, StaffId, TargetName, TicketId
from tests.store.contract_base import StoreHarness
from tests.store.world import (
    EU,
    ORG_DE,
    ORG_EEA,
    ORG_US,
    STAFF_DE,
    STAFF_IN,
    STAFF_US,
    T0,
    TARGET_DE,
    TARGET_US,
    TICKET_DE,
    US,
    consent,
    session,
    world,
)

Call = Callable[[Store], Awaitable[Any]]
NEW = Org(OrgId("org-new"), EU, "standard")
NEW_TICKET = Ticket(TicketId("ticket-new"), NEW.id, 2, "product")


def _target(org: OrgId, name: str, region: str = EU, port: int = 22) -> Target:
    return Target(org, TargetName(name), EU if region == EU else US, "127.0.0.9", port)


BAD_BUNDLES = [
    pytest.param(
        ImportBundle(
            orgs=[NEW],
            targets=[_target(NEW.id, "a"), _target(NEW.id, "b"), _target(NEW.id, "c", US)],
        ),
        "targets[2].region",
        id="target-outside-org-region",
    ),
    pytest.param(
        ImportBundle(orgs=[NEW], tickets=[dataclasses.replace(NEW_TICKET, org_id="org-none")]),
        "tickets[0].org_id",
        id="ticket-of-unknown-org",
    ),
    pytest.param(
        ImportBundle(orgs=[NEW], targets=[_target(OrgId("org-none"), "a")]),
        "targets[0].org_id",
        id="target-of-unknown-org",
    ),
    pytest.param(ImportBundle(orgs=[NEW, NEW]), "orgs[1].id", id="org-twice"),
    pytest.param(
        ImportBundle(orgs=[NEW], staff=[STAFF_IN, STAFF_IN]), "staff[1].id", id="staff-twice"
    ),
    pytest.param(
        ImportBundle(orgs=[NEW], tickets=[dataclasses.replace(NEW_TICKET, severity=5)]),
        "tickets[0].severity",
        id="severity-out-of-range",
    ),
    pytest.param(
        ImportBundle(orgs=[dataclasses.replace(NEW, tier="gold")]), "orgs[0].tier", id="bad-tier"
    ),
    pytest.param(
        ImportBundle(orgs=[NEW], targets=[_target(NEW.id, "a", port=0)]),
        "targets[0].port",
        id="port-zero",
    ),
    pytest.param(
        ImportBundle(orgs=[NEW, dataclasses.replace(ORG_DE, region=US)]),
        "orgs[1].region",
        id="existing-org-moves-region",
    ),
    pytest.param(
        ImportBundle(orgs=[NEW], tickets=[dataclasses.replace(TICKET_DE, org_id=NEW.id)]),
        "tickets[0].org_id",
        id="existing-ticket-moves-org",
    ),
]

UNKNOWN_IDS: list[Any] = [
    pytest.param(lambda s: s.get_org(OrgId("nope")), id="get_org"),
    pytest.param(lambda s: s.get_staff(StaffId("nope")), id="get_staff"),
    pytest.param(lambda s: s.get_ticket(TicketId("nope")), id="get_ticket"),
    pytest.param(lambda s: s.get_target(ORG_DE.id, TargetName("nope")), id="get_target"),
    pytest.param(lambda s: s.get_target(ORG_US.id, TARGET_DE.name + "x"), id="get_target-org"),
    pytest.param(lambda s: s.set_ticket_status(TicketId("nope"), "closed", T0), id="status"),
    pytest.param(lambda s: s.set_staff_active(StaffId("nope"), False, T0), id="active"),
    pytest.param(lambda s: s.get_consent(ConsentId("nope")), id="get_consent"),
    pytest.param(lambda s: s.list_consents(TicketId("nope")), id="list_consents"),
    pytest.param(lambda s: s.revoke_consent(ConsentId("nope"), T0), id="revoke_consent"),
    pytest.param(lambda s: s.get_session(SessionId("nope")), id="get_session"),
    pytest.param(lambda s: s.end_session(SessionId("nope"), "closed", "x", T0), id="end"),
    pytest.param(lambda s: s.mark_connected(SessionId("nope"), T0), id="mark_connected"),
    pytest.param(
        lambda s: s.add_consent(consent(ticket_id=TicketId("nope"))), id="add_consent-ticket"
    ),
    pytest.param(
        lambda s: s.add_consent(consent(staff_id=StaffId("nope"))), id="add_consent-staff"
    ),
    pytest.param(
        lambda s: s.create_session(session(ticket_id=TicketId("nope"))), id="create-ticket"
    ),
    pytest.param(lambda s: s.create_session(session(staff_id=StaffId("nope"))), id="create-staff"),
    pytest.param(
        lambda s: s.create_session(session(target=TargetName("nope"))), id="create-target"
    ),
    pytest.param(
        lambda s: s.grant_records(StaffId("nope"), TICKET_DE.id, TARGET_DE.name, T0),
        id="grant_records-staff",
    ),
    pytest.param(
        lambda s: s.grant_records(STAFF_DE.id, TicketId("nope"), TARGET_DE.name, T0),
        id="grant_records-ticket",
    ),
    pytest.param(
        lambda s: s.grant_records(STAFF_DE.id, TICKET_DE.id, TargetName("nope"), T0),
        id="grant_records-target",
    ),
]

EVERY_CALL: list[Any] = [
    pytest.param(lambda s: s.ping(), id="ping"),
    pytest.param(lambda s: s.import_bundle(world()), id="import_bundle"),
    pytest.param(lambda s: s.list_staff(), id="list_staff"),
    pytest.param(lambda s: s.create_session(session()), id="create_session"),
    pytest.param(lambda s: s.list_sessions(SessionQuery()), id="list_sessions"),
    pytest.param(lambda s: s.ended_sessions(EU, 0), id="ended_sessions"),
    pytest.param(lambda s: s.add_consent(consent()), id="add_consent"),
    pytest.param(lambda s: s.valid_consent(TICKET_DE.id, STAFF_US.id, T0), id="valid_consent"),
    pytest.param(
        lambda s: s.grant_records(STAFF_DE.id, TICKET_DE.id, TARGET_DE.name, T0),
        id="grant_records",
    ),
    *UNKNOWN_IDS,
]


class ReferenceContract(StoreHarness):
    """Orgs, staff, tickets and targets; imports; unknown ids; outages."""

    async def test_import_counts_and_reads_back(self, empty: Store) -> None:
        """An import reports what it upserted and every record reads back unchanged."""
        bundle = world()
        turned_on = (SettingChange(ORG_DE.id, EU, "terminal_access", False, True),)
        assert await empty.import_bundle(bundle) == ImportCounts(3, 3, 4, 2, settings=turned_on)
        for org in bundle.orgs:
            assert await empty.get_org(org.id) == org
        for ticket in bundle.tickets:
            assert await empty.get_ticket(ticket.id) == ticket
        assert await empty.get_target(TARGET_DE.org_id, TARGET_DE.name) == TARGET_DE
        assert await empty.get_target(TARGET_US.org_id, TARGET_US.name) == TARGET_US
        assert await empty.list_staff() == sorted(bundle.staff, key=lambda s: s.id)

    async def test_import_upserts(self, store: Store) -> None:
        """Importing known ids again replaces their fields."""
        tier = dataclasses.replace(
            ORG_DE, tier="eea_only", record_input=False, terminal_access=False
        )
        ticket = dataclasses.replace(TICKET_DE, severity=1, scope="cas")
        staff = dataclasses.replace(STAFF_DE, country="AT")
        target = dataclasses.replace(TARGET_DE, host="127.0.0.3", port=22, host_key=None)
        bundle = ImportBundle(orgs=[tier], staff=[staff], tickets=[ticket], targets=[target])
        counts = await store.import_bundle(bundle)
        assert (counts.orgs, counts.staff, counts.tickets, counts.targets) == (1, 1, 1, 1)
        assert await store.get_org(ORG_DE.id) == tier
        assert await store.get_ticket(TICKET_DE.id) == ticket
        assert await store.get_staff(STAFF_DE.id) == staff
        assert await store.get_target(ORG_DE.id, TARGET_DE.name) == target

    async def test_import_reports_setting_changes(self, store: Store) -> None:
        """An import names each audited org setting it changed, with old and new value."""
        off = dataclasses.replace(ORG_DE, terminal_access=False)
        on_new = dataclasses.replace(NEW, terminal_access=True)
        counts = await store.import_bundle(ImportBundle(orgs=[off, ORG_US, on_new, ORG_EEA]))
        assert counts.settings == (
            SettingChange(ORG_DE.id, EU, "terminal_access", True, False),
            SettingChange(NEW.id, EU, "terminal_access", False, True),
        )
        assert (await store.get_org(ORG_DE.id)).terminal_access is False
        again = await store.import_bundle(ImportBundle(orgs=[off, on_new]))
        assert again.settings == ()

    async def test_require_watch_is_stored_and_reported(self, store: Store) -> None:
        """``require_watch`` reads back and each change is reported like terminal_access."""
        watched = dataclasses.replace(ORG_DE, require_watch=True)
        counts = await store.import_bundle(ImportBundle(orgs=[watched]))
        assert counts.settings == (SettingChange(ORG_DE.id, EU, "require_watch", False, True),)
        assert await store.get_org(ORG_DE.id) == watched
        back = await store.import_bundle(ImportBundle(orgs=[ORG_DE]))
        assert back.settings == (SettingChange(ORG_DE.id, EU, "require_watch", True, False),)
        assert (await store.get_org(ORG_DE.id)).require_watch is False

    async def test_import_may_reference_stored_org(self, store: Store) -> None:
        """A ticket or target may belong to an org imported earlier."""
        ticket = dataclasses.replace(NEW_TICKET, org_id=ORG_US.id)
        target = _target(ORG_US.id, "db", US)
        await store.import_bundle(ImportBundle(tickets=[ticket], targets=[target]))
        assert await store.get_ticket(ticket.id) == ticket
        assert await store.get_target(ORG_US.id, target.name) == target

    @pytest.mark.parametrize(("bundle", "field"), BAD_BUNDLES)
    async def test_bad_import_names_field_and_writes_nothing(
        self, store: Store, bundle: ImportBundle, field: str
    ) -> None:
        """A bad bundle is refused whole, naming the offending field by path."""
        with pytest.raises(InputError) as caught:
            await store.import_bundle(bundle)
        assert caught.value.field == field
        with pytest.raises(NotFoundError):
            await store.get_org(NEW.id)
        assert await store.get_org(ORG_DE.id) == ORG_DE
        assert await store.get_ticket(TICKET_DE.id) == TICKET_DE

    async def test_grant_records_match_the_single_reads(self, store: Store) -> None:
        """grant_records returns what the five single reads return, consent included."""
        given = await store.add_consent(consent(staff_id=STAFF_US.id))
        records = await store.grant_records(STAFF_US.id, TICKET_DE.id, TARGET_DE.name, T0)
        assert records.staff == await store.get_staff(STAFF_US.id)
        assert (records.ticket, records.org, records.target) == (TICKET_DE, ORG_DE, TARGET_DE)
        assert records.consent == given == await store.valid_consent(TICKET_DE.id, STAFF_US.id, T0)
        without = await store.grant_records(STAFF_DE.id, TICKET_DE.id, TARGET_DE.name, T0)
        assert without.consent is None

    @pytest.mark.parametrize("call", UNKNOWN_IDS)
    async def test_unknown_ids_raise_not_found(self, store: Store, call: Call) -> None:
        """Every lookup or change naming an unknown id raises ``NotFoundError``."""
        with pytest.raises(NotFoundError):
            await call(store)

    async def test_ping_answers(self, store: Store) -> None:
        """A reachable store answers ``ping`` without raising."""
        assert await store.ping() is None

    @pytest.mark.parametrize("call", EVERY_CALL)
    async def test_unreachable_backend_raises_unavailable(
        self, unreachable: Store, call: Call
    ) -> None:
        """Every call on an unreachable store fails closed with ``UnavailableError``."""
        with pytest.raises(UnavailableError) as caught:
            await call(unreachable)
        assert caught.value.status == 503
