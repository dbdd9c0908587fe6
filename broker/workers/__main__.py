"""``python -m broker.workers FD HANDOFF``: an API worker process (started by ``broker run``)."""

from __future__ import annotations

import sys

from broker.workers.worker import main

sys.exit(main(sys.argv[1:]))
