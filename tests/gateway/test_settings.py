"""Gateway settings validation."""

from __future__ import annotations

import pytest

from broker.errors import InputError
from broker.gateway.settings import FAST_CIPHERS, GatewaySettings


class TestGatewaySettings:
    """Defaults, validation and the PTY-size sanity check."""

    def test_aes_gcm_first(self) -> None:
        """AES-GCM leads the cipher list."""
        assert FAST_CIPHERS[0] == "aes128-gcm@openssh.com"

    @pytest.mark.parametrize("field", ["login_timeout", "idle_timeout", "poll_interval"])
    def test_non_positive_rejected(self, field: str) -> None:
        """Zero timeouts are refused, naming the field."""
        with pytest.raises(InputError) as error:
            GatewaySettings(**{field: 0})
        assert error.value.field == field

    @pytest.mark.parametrize(
        ("size", "ok"),
        [((80, 24, 0, 0), True), ((10_000, 10_000, 0, 0), True),
         ((2**31, 24, 0, 0), False), ((80, 24, 0, 2**20), False)],
    )  # fmt: skip
    def test_term_size(self, size: tuple[int, int, int, int], ok: bool) -> None:
        """Absurd sizes are malformed."""
        assert GatewaySettings().term_size_ok(*size) is ok
