"""Replaying a recording to a viewer's terminal, through the egress filter.

Recordings hold filtered output, but a file written by an older filter, or
edited on disk, must still not reach a viewer's terminal with a clipboard
write in it: every ``"o"`` event passes a fresh ``OutputFilter`` again here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from broker.egress.blocked import Blocked
from broker.egress.filter import OutputFilter
from broker.recording.castfile import Event


@dataclass(slots=True)
class ReplayResult:
    """What a replay did: events shown and sequences the filter removed."""

    shown: int = 0
    blocked: list[Blocked] = field(default_factory=list)


def replay(
    events: Iterable[Event],
    write: Callable[[bytes], None],
    sleep: Callable[[float], None],
    *,
    speed: float = 1.0,
    max_wait: float | None = 2.0,
) -> ReplayResult:
    """Write each output event's filtered bytes, pausing between them.

    Pauses are the recorded gaps divided by ``speed``, each at most
    ``max_wait`` seconds (None: no cap). Input, resize and marker events
    are not shown.
    """
    if speed <= 0:
        raise ValueError("speed must be positive")
    result = ReplayResult()
    egress = OutputFilter()
    last = 0.0
    for time, code, data in events:
        if code != "o":
            continue
        _pause(sleep, (time - last) / speed, max_wait)
        last = time
        passed, blocked = egress.feed(data.encode("utf-8"))
        result.blocked.extend(blocked)
        result.shown += 1
        if passed:
            write(passed)
    passed, blocked = egress.flush()
    result.blocked.extend(blocked)
    if passed:
        write(passed)
    return result


def _pause(sleep: Callable[[float], None], seconds: float, cap: float | None) -> None:
    """Sleep ``seconds`` capped at ``cap``; skip gaps too short to matter."""
    wait = seconds if cap is None else min(seconds, cap)
    if wait > 0.001:
        sleep(wait)
