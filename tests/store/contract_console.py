"""Contract: console sign-ins, stored as digests; sessions idle out, links are used once."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from broker.errors import ConflictError, InputError, NotFoundError
from broker.models import ConsoleSession
from broker.store.base import Store
from broker.typing import TokenDigest
from tests.store.contract_base import StoreHarness
from tests.store.world import T0

LIFETIME = timedelta(hours=8)
IDLE = timedelta(minutes=30)


def record(name: str = "c-1", **changes: Any) -> ConsoleSession:
    """A customer admin's console session, made at T0, living 8 h."""
    fields: dict[str, Any] = {
        "digest": TokenDigest(hashlib.sha256(name.encode()).hexdigest()),
        "kind": "session",
        "subject": "cust-admin-1",
        "role": "customer_admin",
        "org": "acme-de",
        "created_at": T0,
        "expires_at": T0 + LIFETIME,
        "last_seen_at": T0,
        "data": '{"issuer": "https://idp.example"}',
    }
    return ConsoleSession(**{**fields, **changes})


BAD_INPUT: list[Any] = [
    pytest.param({"digest": "not-a-digest"}, "digest", id="not-a-digest"),
    pytest.param({"kind": "cookie"}, "kind", id="unknown-kind"),
    pytest.param({"ended_at": T0}, "ended_at", id="already-ended"),
    pytest.param({"expires_at": T0}, "expires_at", id="empty-lifetime"),
]

TOUCH_REFUSED: list[Any] = [
    pytest.param(
        "c-unknown", "session", T0, NotFoundError, "console_session_unknown", id="unknown"
    ),
    pytest.param(
        "c-1", "session", T0 + LIFETIME, ConflictError, "console_session_expired", id="expired"
    ),
    pytest.param("c-1", "session", T0 + IDLE * 2, ConflictError, "console_session_idle", id="idle"),
    pytest.param("c-1", "link", T0, ConflictError, "console_session_kind", id="other-kind"),
]


class ConsoleSessionContract(StoreHarness):
    """Adding, using and ending console records."""

    async def test_touch_slides_the_idle_bound(self, store: Store) -> None:
        """Each use moves ``last_seen_at``: used every 20 min, it outlives a 30 min idle bound."""
        await store.add_console_session(record())
        for step in range(1, 4):
            at = T0 + timedelta(minutes=20 * step)
            seen = await store.touch_console_session(record().digest, "session", at, at - IDLE)
        assert seen == replace(record(), last_seen_at=T0 + timedelta(minutes=60))

    @pytest.mark.parametrize(("name", "kind", "at", "error", "code"), TOUCH_REFUSED)
    async def test_touch_refusals_name_the_reason(
        self, store: Store, name: str, kind: Any, at: Any, error: type[Exception], code: str
    ) -> None:
        """Unknown, expired, idle and other-kind records are refused, each with its code."""
        await store.add_console_session(record())
        digest = TokenDigest(hashlib.sha256(name.encode()).hexdigest())
        with pytest.raises(error) as caught:
            await store.touch_console_session(digest, kind, at, at - IDLE)
        assert caught.value.code == code  # type: ignore[attr-defined]

    async def test_end_once(self, store: Store) -> None:
        """A record ends once; afterwards it can be neither used nor ended again."""
        await store.add_console_session(record())
        ended = await store.end_console_session(record().digest, "session", T0)
        assert ended.ended_at == T0
        with pytest.raises(ConflictError) as caught:
            await store.end_console_session(record().digest, "session", T0)
        assert caught.value.code == "console_session_ended"
        with pytest.raises(ConflictError):
            await store.touch_console_session(record().digest, "session", T0, T0 - IDLE)

    async def test_racing_link_claims_one_wins(self, store: Store) -> None:
        """Of claims racing for one sign-in link, exactly one succeeds."""
        link = record(kind="link", expires_at=T0 + timedelta(seconds=60))
        await store.add_console_session(link)
        results = await asyncio.gather(
            *(store.end_console_session(link.digest, "link", T0) for _ in range(8)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, ConsoleSession) for r in results) == 1
        assert all(isinstance(r, ConsoleSession | ConflictError) for r in results)

    async def test_expired_link_is_refused(self, store: Store) -> None:
        """A link past its expiry is ``console_session_expired`` and stays unused."""
        link = record(kind="link", expires_at=T0 + timedelta(seconds=60))
        await store.add_console_session(link)
        with pytest.raises(ConflictError) as caught:
            await store.end_console_session(link.digest, "link", T0 + timedelta(seconds=60))
        assert caught.value.code == "console_session_expired"

    async def test_login_keeps_its_data_and_no_org(self, store: Store) -> None:
        """A login in progress has no principal yet; its data comes back as stored."""
        login = record(kind="login", subject="", role="", org=None, data='{"state": "s"}')
        await store.add_console_session(login)
        assert await store.end_console_session(login.digest, "login", T0) == replace(
            login, ended_at=T0
        )

    async def test_duplicate_digest_conflicts(self, store: Store) -> None:
        """A digest is stored once; the first record stays as it was."""
        await store.add_console_session(record())
        with pytest.raises(ConflictError):
            await store.add_console_session(record(subject="someone-else"))
        seen = await store.touch_console_session(record().digest, "session", T0, T0 - IDLE)
        assert seen.subject == "cust-admin-1"

    @pytest.mark.parametrize(("changes", "field"), BAD_INPUT)
    async def test_bad_input_names_field(
        self, store: Store, changes: dict[str, Any], field: str
    ) -> None:
        """A malformed record is an input error naming the field; nothing is stored."""
        bad = record(**changes)
        with pytest.raises(InputError) as caught:
            await store.add_console_session(bad)
        assert caught.value.field == field
        with pytest.raises(NotFoundError):
            await store.end_console_session(bad.digest, "session", T0)
