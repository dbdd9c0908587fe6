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


def _commands() -> set[str]:
    """The ``broker`` subcommands this checkout has."""
    from broker.cli import build_parser

    for action in build_parser()._subparsers._group_actions:  # type: ignore[union-attr]
        return set(getattr(action, "choices", None) or ())
    return set()


needs_roles = pytest.mark.skipif(
    not {"api", "region"} <= _commands(),
    reason="needs the split roles, `broker api` and `broker region --region R`",
)
"""Marks a module that runs the control plane and the regional units as processes of their own."""
