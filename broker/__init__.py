"""Region-pinned virtual-access session broker.

Support engineers ask the broker for a session on a ticket; the pure access
policy decides; an allowed session gets a short-lived OpenSSH certificate from
the ticket's region CA, usable only at that region's gateway, which relays an
interactive terminal and nothing else.
"""

from __future__ import annotations

__version__ = "0.1.0"
