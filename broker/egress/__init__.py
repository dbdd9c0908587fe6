"""The egress filter: a pure, stateful scanner of terminal output.

``filter`` drops the escape sequences that copy data out of a session
(clipboard writes, file transfers, DCS passthrough); ``rules`` holds the
sequence table. No I/O: the gateway, replay and the viewer feed it bytes.
"""

from __future__ import annotations
