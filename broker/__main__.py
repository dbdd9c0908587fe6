"""``python -m broker`` runs the CLI."""

from __future__ import annotations

import sys

from broker.cli import main

sys.exit(main())
