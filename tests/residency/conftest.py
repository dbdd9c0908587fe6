"""The residency tests need root: network namespaces, veth pairs and packet captures."""

from __future__ import annotations

import shutil

import pytest

from tests.residency.netns import is_root

needs_root = pytest.mark.skipif(
    not is_root() or shutil.which("tcpdump") is None or shutil.which("ip") is None,
    reason="needs root, iproute2 and tcpdump (network namespaces and captures; CI runs as root "
    "and .ci/sysdeps installs tcpdump)",
)
"""Marks a module whose tests make namespaces; everything else here runs anywhere."""
