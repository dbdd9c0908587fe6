"""Contract: viewer tokens, stored as digests and claimed once, atomically."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from broker.errors import ConflictError, InputError, NotFoundError, RegionMismatch
from broker.models import ViewerToken
from broker.store.base import Store
from broker.typing import SessionId, TokenDigest
from tests.store.contract_base import StoreHarness
from tests.store.world import EU, STAFF_DE, T0, US

LIFETIME = timedelta(seconds=60)


def token(name: str = "t-1", **changes: Any) -> ViewerToken:
    """An unclaimed EU token for ``sess-1``, issued at T0, living 60 s."""
    digest = TokenDigest(hashlib.sha256(name.encode()).hexdigest())
    fields: dict[str, Any] = {
        "digest": digest,
        "session_id": SessionId("sess-1"),
        "region": EU,
        "staff_id": STAFF_DE.id,
        "issued_at": T0,
        "expires_at": T0 + LIFETIME,
    }
    return ViewerToken(**{**fields, **changes})


BAD_INPUT: list[Any] = [
    pytest.param({"digest": "not-a-digest"}, "digest", id="not-a-digest"),
    pytest.param({"digest": "A" * 64}, "digest", id="upper-case-hex"),
    pytest.param({"claimed_at": T0}, "claimed_at", id="already-claimed"),
    pytest.param({"expires_at": T0}, "expires_at", id="empty-lifetime"),
]

REFUSED: list[Any] = [
    pytest.param("t-unknown", EU, T0, NotFoundError, "viewer_token_unknown", id="unknown"),
    pytest.param("t-1", US, T0, RegionMismatch, "viewer_token_region", id="other-region"),
    pytest.param("t-1", EU, T0 + LIFETIME, ConflictError, "viewer_token_expired", id="expired"),
]


class ViewerTokenContract(StoreHarness):
    """Adding and claiming viewer tokens."""

    async def test_claim_returns_the_token_claimed(self, store: Store) -> None:
        """The first claim at the token's region, in time, returns it marked claimed."""
        await store.add_viewer_token(token())
        claimed = await store.claim_viewer_token(token().digest, EU, T0 + timedelta(seconds=5))
        assert claimed == replace(token(), claimed_at=T0 + timedelta(seconds=5))

    async def test_second_claim_is_refused(self, store: Store) -> None:
        """A token opens one viewer: the second claim is ``viewer_token_used``."""
        await store.add_viewer_token(token())
        await store.claim_viewer_token(token().digest, EU, T0)
        with pytest.raises(ConflictError) as caught:
            await store.claim_viewer_token(token().digest, EU, T0)
        assert caught.value.code == "viewer_token_used"

    async def test_racing_claims_one_wins(self, store: Store) -> None:
        """Of claims racing for one token, exactly one succeeds."""
        await store.add_viewer_token(token())
        results = await asyncio.gather(
            *(store.claim_viewer_token(token().digest, EU, T0) for _ in range(8)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, ViewerToken) for r in results) == 1
        assert all(isinstance(r, ViewerToken | ConflictError) for r in results)

    @pytest.mark.parametrize(("name", "region", "at", "error", "code"), REFUSED)
    async def test_refusals_name_the_reason(
        self, store: Store, name: str, region: Any, at: Any, error: type[Exception], code: str
    ) -> None:
        """Unknown, other region's and expired tokens are refused, each with its code."""
        await store.add_viewer_token(token())
        digest = TokenDigest(hashlib.sha256(name.encode()).hexdigest())
        with pytest.raises(error) as caught:
            await store.claim_viewer_token(digest, region, at)
        assert caught.value.code == code  # type: ignore[attr-defined]

    async def test_other_region_leaves_token_unclaimed(self, store: Store) -> None:
        """A claim at the wrong region's viewer consumes nothing."""
        await store.add_viewer_token(token())
        with pytest.raises(RegionMismatch):
            await store.claim_viewer_token(token().digest, US, T0)
        assert (await store.claim_viewer_token(token().digest, EU, T0)).claimed_at == T0

    async def test_duplicate_digest_conflicts(self, store: Store) -> None:
        """A digest is stored once; a second add conflicts and the first stays claimable."""
        await store.add_viewer_token(token())
        with pytest.raises(ConflictError):
            await store.add_viewer_token(token(staff_id="someone-else"))
        assert (await store.claim_viewer_token(token().digest, EU, T0)).staff_id == STAFF_DE.id

    @pytest.mark.parametrize(("changes", "field"), BAD_INPUT)
    async def test_bad_input_names_field(
        self, store: Store, changes: dict[str, Any], field: str
    ) -> None:
        """A malformed token is an input error naming the field; nothing is stored."""
        bad = token(**changes)
        with pytest.raises(InputError) as caught:
            await store.add_viewer_token(bad)
        assert caught.value.field == field
        with pytest.raises(NotFoundError):
            await store.claim_viewer_token(bad.digest, EU, T0)
