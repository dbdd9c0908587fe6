"""The state folder's layout and the one region-code check."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.errors import InputError
from broker.state import StateLayout, check_region, is_region

REGION = "eu-west-1"


class TestCheckRegion:
    """Region codes become directory names, so they are checked, in one place."""

    @pytest.mark.parametrize(
        "region",
        ["eu-central-1", "us-east-1", "us-gov-west-1", "eusc-de-east-1", "ap-southeast-2"],
    )
    def test_accepts_region_codes(self, region):
        """Real AWS region codes, the sovereign cloud's included, pass unchanged."""
        assert check_region(region) == region

    @pytest.mark.parametrize(
        "region",
        ["", "..", "../etc", "eu-central-1/..", "eu-central-1/../x", "EU-CENTRAL-1",
         "eu central 1", "moon", "x", "eu-central-1\n", None, 1],
    )  # fmt: skip
    def test_refuses_others(self, region):
        """Traversal, upper case, spaces, fragments and non-strings: InputError naming region."""
        with pytest.raises(InputError) as caught:
            check_region(region)
        assert caught.value.field == "region"

    @given(st.text(max_size=30))
    def test_a_checked_region_is_one_path_component(self, text):
        """Whatever passes the check is a single, plain folder name."""
        if is_region(text):
            assert Path(text).name == text
            assert text not in (".", "..")
            assert "/" not in text


class TestStateLayout:
    """Every region path is ``<state>/regions/<region>/<part>``, the region checked first."""

    @pytest.mark.parametrize(
        ("method", "part"),
        [
            ("ca", "ca"),
            ("gateway", "gateway"),
            ("audit", "audit"),
            ("audit_key", "audit-key"),
            ("recordings", "recordings"),
            ("demo_target", "demo-target"),
        ],
    )
    def test_region_paths(self, tmp_path, method, part):
        """Each folder of a region sits directly below that region's folder."""
        layout = StateLayout(tmp_path)
        assert getattr(layout, method)(REGION) == tmp_path / "regions" / REGION / part

    @pytest.mark.parametrize(
        "method", ["region", "ca", "gateway", "audit", "audit_key", "recordings", "demo_target"]
    )
    def test_bad_region_builds_no_path(self, tmp_path, method):
        """A malformed region is refused before any path exists."""
        with pytest.raises(InputError):
            getattr(StateLayout(tmp_path), method)("../other")

    def test_instance_files(self, tmp_path):
        """The store file and the token key sit at the top of the state folder."""
        layout = StateLayout(tmp_path)
        assert layout.database == tmp_path / "broker.db"
        assert layout.signing_key == tmp_path / "auth" / "jwt-signing.pem"

    def test_existing_regions(self, tmp_path):
        """Region folders present are listed sorted; ``keep`` filters them; files are ignored."""
        layout = StateLayout(tmp_path)
        assert layout.existing_regions() == []
        layout.audit("us-east-1").mkdir(parents=True)
        layout.region("eu-central-1").mkdir(parents=True)
        (layout.regions / "stray-file").write_text("")
        assert layout.existing_regions() == ["eu-central-1", "us-east-1"]
        assert layout.existing_regions(lambda p: (p / "audit").is_dir()) == ["us-east-1"]
