"""The principal and the ``Authorization: Bearer`` header."""

from __future__ import annotations

import pytest

from broker.auth.principal import bearer_token
from broker.errors import AuthenticationError


class TestBearerToken:
    """Reading the token out of an Authorization header."""

    @pytest.mark.parametrize(
        ("header", "token"),
        [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("BEARER x.y.z", "x.y.z")],
    )
    def test_extracts(self, header, token):
        """The bearer scheme is case-insensitive."""
        assert bearer_token(header) == token

    @pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", "Basic abc", "abc"])
    def test_missing(self, header):
        """No usable bearer credentials: token_missing."""
        with pytest.raises(AuthenticationError) as caught:
            bearer_token(header)
        assert caught.value.code == "token_missing"
