"""Country sets: the traps docs/design.md names, and provenance on every set."""

from __future__ import annotations

import pytest

from broker.policy.countries import (
    ADEQUACY,
    CONSENT,
    DEFAULT_SETS,
    EEA,
    EU27,
    ISO_3166_ALPHA2,
    SCC,
)


class TestCountrySets:
    """The data tables."""

    def test_sizes(self):
        """249 ISO codes, 27 EU states, 30 EEA states."""
        assert (len(ISO_3166_ALPHA2), len(EU27), len(EEA.members)) == (249, 27, 30)

    @pytest.mark.parametrize("code", ["NO", "IS", "LI", "GR", "HR", "IE"])
    def test_in_eea(self, code):
        """EFTA members of the EEA and EU states are EEA."""
        assert code in EEA.members

    @pytest.mark.parametrize("code", ["CH", "GB", "EL", "UK"])
    def test_not_in_eea(self, code):
        """Switzerland and the UK are not EEA; EL and UK are not ISO codes."""
        assert code not in EEA.members

    def test_switzerland_is_adequacy(self):
        """Switzerland has an adequacy decision."""
        assert "CH" in ADEQUACY.members

    def test_us_routed_via_consent(self):
        """The US is recorded as adequate (DPF) and is still a consent country."""
        assert "US" in ADEQUACY.members
        assert CONSENT.members == {"US"}

    def test_scc(self):
        """India and the Philippines are the SCC countries."""
        assert SCC.members == {"IN", "PH"}

    @pytest.mark.parametrize("country_set", DEFAULT_SETS, ids=lambda s: s.name)
    def test_provenance(self, country_set):
        """Every set has a source and a date, and only ISO codes."""
        assert country_set.source
        assert country_set.as_of.year >= 2026
        assert country_set.members <= ISO_3166_ALPHA2
