"""The access-mode rules (``broker.policy.access``), as tables."""

from __future__ import annotations

import pytest

from broker.policy import access_modes, ticket_access


class TestAccessModes:
    """``access_modes``: region, tier and the org's opt-in."""

    @pytest.mark.parametrize(
        ("eea", "tier", "terminal_access", "modes"),
        [
            (False, "standard", False, ("view", "terminal")),
            (False, "eea_only", False, ("view", "terminal")),
            (True, "standard", False, ("view",)),
            (True, "standard", True, ("view", "terminal")),
            (True, "eea_only", False, ("view",)),
            (True, "eea_only", True, ("view",)),  # eea_only never gets a terminal
            (True, "gold", True, ("view",)),  # an unknown tier opts in to nothing
        ],
    )
    def test_table(self, eea, tier, terminal_access, modes):
        """Each row of the README's access table."""
        assert access_modes(eea, tier, terminal_access) == modes


class TestTicketAccess:
    """``ticket_access``: what routing shows, failing closed on unknowns."""

    @pytest.mark.parametrize(
        ("region", "tier", "terminal_access", "modes"),
        [
            ("eu-central-1", "standard", True, ("view", "terminal")),
            ("eu-central-1", "eea_only", True, ("view",)),
            ("eu-west-2", "eea_only", False, ("view", "terminal")),  # London is not EEA
            ("xx-nowhere-1", "standard", True, ()),
            ("eu-central-1", "gold", True, ()),
        ],
    )
    def test_table(self, region, tier, terminal_access, modes):
        """Known regions and tiers get their modes; unknown ones get none."""
        assert ticket_access(region, tier, terminal_access) == modes
