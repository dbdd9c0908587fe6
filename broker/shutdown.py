"""How the broker's child processes wait to be stopped.

An API worker and the demo-target process each run until SIGTERM or until
their parent is gone (a closed channel, or stdin at its end), whichever
comes first. The parent stops them in order; SIGINT is the parent's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable


async def until_sigterm_or(other: Awaitable[object]) -> bool:
    """Wait for SIGTERM or ``other``; True when it was SIGTERM. The loser is cancelled."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(other)}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return stop.is_set()
