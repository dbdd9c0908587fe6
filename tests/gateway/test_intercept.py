"""The asyncssh internals the gateway hooks still exist (asyncssh is pinned)."""

from __future__ import annotations

import asyncssh

from broker.gateway.intercept import HOOKED, check_supported


class TestSupported:
    """A renamed internal must fail start-up, not open a hole."""

    def test_pinned_version_has_hooks(self) -> None:
        """Every hooked method exists on asyncssh's server connection."""
        check_supported()
        assert all(callable(getattr(asyncssh.SSHServerConnection, n)) for n in HOOKED)
        assert asyncssh.__version__ == "2.24.1"
