"""Shared fixtures of the auth tests: a fixed clock and a local authority."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from broker.auth.jwks import DEFAULT_AUDIENCE
from broker.auth.local import LOCAL_ISSUER, LocalAuthority
from broker.clock import FakeClock

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def clock():
    return FakeClock(NOW)


@pytest.fixture
def authority(tmp_path, clock):
    return LocalAuthority.from_state(tmp_path, clock=clock)


def forge(key, claims, *, kid, alg="EdDSA", headers=None):
    """A token signed by ``key`` with the given claims (for hostile cases)."""
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, **(headers or {})})


def claims(**changes):
    now = int(NOW.timestamp())
    base = {
        "iss": LOCAL_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "staff-1",
        "role": "engineer",
        "iat": now,
        "exp": now + 600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}
