"""The local-mode demo: the demo target host and the data imported into an empty state.

- ``target`` / ``shell``: the demo host (a real bash login shell on a PTY);
- ``process``: runs one per region in a child process of ``broker run``;
- ``user``: the unprivileged account the demo shells run as (when started as root);
- ``data.json`` (``demo_document``): the demo orgs, staff and tickets.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

DEMO_TARGET_NAME = "app-1"
"""Each demo org gets one target of this name: its region's demo target host."""


def demo_document() -> dict[str, Any]:
    """The demo import document (orgs, staff, tickets; targets are added at run)."""
    text = resources.files(__package__).joinpath("data.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
