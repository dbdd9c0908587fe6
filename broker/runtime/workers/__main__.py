"""``python -m broker.runtime.workers FD HANDOFF``: one API worker process of ``broker run``."""

from __future__ import annotations

import sys

from broker.runtime.workers.worker import main

sys.exit(main(sys.argv[1:]))
