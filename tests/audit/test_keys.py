"""Tests for broker.audit.keys: per-region secrets and the keys derived from them."""

from __future__ import annotations

import stat
import threading

import pytest

from broker.audit.keys import FileSecretSource, MemorySecretSource, derive_key
from broker.errors import UnavailableError
from broker.typing import Region
from tests.fixtures.threads import run_together


class TestFileSecretSource:
    """Secrets live in a 0600 file per region, created on first use."""

    def test_created_once_with_mode_0600_and_stable(self, tmp_path):
        """First use creates the file; later sources read the same bytes."""
        first = FileSecretSource(tmp_path).secret(Region("eu-west-1"))
        path = tmp_path / "regions" / "eu-west-1" / "audit-key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert FileSecretSource(tmp_path).secret(Region("eu-west-1")) == first
        assert len(first) == 32

    def test_writers_starting_at_once_agree_on_one_whole_secret(self, tmp_path):
        """Sources racing to create a region's secret all get the one that won, never a torn one."""
        barrier = threading.Barrier(8)
        found = []

        def create():
            source = FileSecretSource(tmp_path)
            barrier.wait()
            found.append(source.secret(Region("eu-west-1")))

        run_together(*[create] * 8)
        assert len(found) == 8
        assert len(set(found)) == 1
        assert sorted(p.name for p in (tmp_path / "regions" / "eu-west-1").iterdir()) == [
            "audit-key"
        ]

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
