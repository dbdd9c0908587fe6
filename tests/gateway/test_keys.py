"""The gateway's own keys."""

from __future__ import annotations

from pathlib import Path

from broker.gateway.keys import gateway_dir, load_gateway_keys
from broker.typing import Region


class TestGatewayKeys:
    """Created once, private, stable."""

    def test_created_private_and_stable(self, tmp_path: Path) -> None:
        """A second load returns the same keys; files are 0600."""
        first = load_gateway_keys(tmp_path, Region("eu-central-1"))
        second = load_gateway_keys(tmp_path, Region("eu-central-1"))
        assert first.host_public() == second.host_public()
        assert first.client_public() == second.client_public()
        assert first.host_public() != first.client_public()
        folder = gateway_dir(tmp_path, Region("eu-central-1"))
        assert folder == tmp_path / "regions" / "eu-central-1" / "gateway"
        assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir())
