"""The product's one logging configuration: structlog, JSON lines, redacted.

Both structlog loggers and plain ``logging`` loggers (asyncssh, aiohttp, boto)
end in one handler whose formatter runs the same chain, so no line escapes
redaction::

    contextvars (request_id, session_id, region) -> level, logger, UTC time
    -> exception text -> REDACT -> JSON

Redaction drops values under keys that hold names or secrets, and scrubs every
other string (phone numbers, emails) with the key of the line's ``region``, or
with a per-process key when the line has none.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.stdlib import ProcessorFormatter
from structlog.typing import EventDict, Processor

from broker.audit.keys import MemorySecretSource
from broker.audit.redact import Redactor, RegionRedactor
from broker.errors import BrokerError

CONTEXT_KEYS = ("request_id", "session_id", "region")
DROPPED = "[dropped]"

DROP_KEYS = frozenset({
    "name", "full_name", "first_name", "last_name", "display_name", "contact",
    "contact_name", "description", "subject_line", "user_agent", "email", "phone",
    "phone_number", "password", "secret", "token", "authorization", "cookie",
})  # fmt: skip
"""Keys whose values are never logged, whatever they hold."""


class RedactProcessor:
    """The structlog processor that scrubs an event dict before any renderer."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        self._redactor = redactor or Redactor(MemorySecretSource({}))

    def __call__(self, logger: Any, method_name: str, event_dict: EventDict) -> EventDict:
        """Drop denied keys; scrub every other value with the line's region key."""
        scrub = self._scrubber(event_dict.get("region"))
        return {
            key: DROPPED if key.lower() in DROP_KEYS else scrub.value(value)
            for key, value in event_dict.items()
        }

    def _scrubber(self, region: Any) -> RegionRedactor:
        if isinstance(region, str):
            try:
                return self._redactor.region(region)
            except BrokerError:
                pass  # unknown region or key unavailable: still scrub, with the process key
        return self._redactor.ephemeral()


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    *, redactor: Redactor | None = None, level: int | str = "INFO", stream: TextIO | None = None
) -> RedactProcessor:
    """Install the pipeline on the root logger (replacing its handlers)."""
    redact = RedactProcessor(redactor)
    structlog.configure(
        processors=[*_shared(), ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[
            ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # asyncssh logs every step of every connection at INFO. The gateway emits
    # its own structured events for what ops need, and scrubbing that chatter
    # took a sixth of the gateway's CPU per login; keep its warnings only.
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    return redact


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (bound loggers are dynamically typed, hence ``Any``)."""
    return structlog.stdlib.get_logger(name)


@contextmanager
def log_context(
    *, request_id: str | None = None, session_id: str | None = None, region: str | None = None
) -> Iterator[None]:
    """Bind the context ids for log lines within the block (contextvars: task-local)."""
    ids: MutableMapping[str, str] = {}
    for key, value in (("request_id", request_id), ("session_id", session_id), ("region", region)):
        if value is not None:
            ids[key] = value
    with structlog.contextvars.bound_contextvars(**ids):
        yield
