"""Use cases: what the API (and so the CLI) can ask the broker to do.

Each service composes the store, the pure policy, the region CAs and the event
sink; none knows about HTTP. Handlers in ``broker.api`` parse, authorise by
role, call one method here and render the result.
"""

from __future__ import annotations
