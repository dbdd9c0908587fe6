"""Tests for broker.audit.keys: region codes, per-region secrets."""

from __future__ import annotations

import stat

import pytest

from broker.audit.keys import (
    FileSecretSource,
    MemorySecretSource,
    audit_dir,
    check_region,
    derive_key,
)
from broker.errors import InputError, UnavailableError
from broker.typing import Region


class TestCheckRegion:
    """Only region codes may become path components."""

    @pytest.mark.parametrize(
        "region", ["eu-central-1", "us-east-1", "eusc-de-east-1", "ap-south-2"]
    )
    def test_region_codes_pass(self, region):
        """Real AWS region codes, the sovereign cloud's included, are accepted."""
        assert check_region(region) == region

    @pytest.mark.parametrize(
        "region", ["", "..", "../etc", "eu-central-1/../x", "EU-CENTRAL-1", "eu central 1", "x"]
    )
    def test_anything_else_is_refused(self, region):
        """Traversal, upper case, spaces and fragments raise InputError naming region."""
        with pytest.raises(InputError) as caught:
            check_region(region)
        assert caught.value.field == "region"

    def test_audit_dir_is_under_the_region(self, tmp_path):
        """The chain lives at <state>/regions/<region>/audit."""
        assert audit_dir(tmp_path, "eu-west-1") == tmp_path / "regions" / "eu-west-1" / "audit"


class TestFileSecretSource:
    """Secrets live in a 0600 file per region, created on first use."""

    def test_created_once_with_mode_0600_and_stable(self, tmp_path):
        """First use creates the file; later sources read the same bytes."""
        first = FileSecretSource(tmp_path).secret(Region("eu-west-1"))
        path = tmp_path / "regions" / "eu-west-1" / "audit-key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert FileSecretSource(tmp_path).secret(Region("eu-west-1")) == first
        assert len(first) == 32

    def test_regions_get_different_secrets(self, tmp_path):
        """Each region has its own secret."""
        source = FileSecretSource(tmp_path)
        assert source.secret(Region("eu-west-1")) != source.secret(Region("eu-west-3"))

    def test_missing_without_create_is_unavailable(self, tmp_path):
        """A reader that must not create fails closed on a missing key."""
        with pytest.raises(UnavailableError) as caught:
            FileSecretSource(tmp_path, create=False).secret(Region("eu-west-1"))
        assert caught.value.code == "audit_key_missing"

    @pytest.mark.parametrize("content", ["", "zz", "00" * 8])
    def test_garbled_or_short_key_is_unavailable(self, tmp_path, content):
        """A key file that is not 32 hex-encoded bytes is never used as a weak key."""
        path = tmp_path / "regions" / "eu-west-1" / "audit-key"
        path.parent.mkdir(parents=True)
        path.write_text(content)
        with pytest.raises(UnavailableError):
            FileSecretSource(tmp_path).secret(Region("eu-west-1"))


class TestDerivation:
    """Purpose keys are independent of each other."""

    def test_purposes_differ(self):
        """Pseudonym and seal keys from one secret are different."""
        assert derive_key(b"s" * 32, "pseudonym") != derive_key(b"s" * 32, "head-seal")

    def test_memory_source_refuses_unknown_regions(self):
        """An in-memory source without the region fails closed."""
        with pytest.raises(UnavailableError):
            MemorySecretSource({}).secret(Region("eu-west-1"))
