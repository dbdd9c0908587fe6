"""The webhook channel: a signed HTTPS POST of the message to the org's URL.

Headers: ``Content-Type: application/json``, ``X-Broker-Event`` (the type),
``X-Broker-Delivery`` (the delivery id, the same on every retry: receivers
de-duplicate by it) and ``X-Broker-Signature`` (``broker.notify.signature``,
signed anew at each attempt). A 2xx answer is delivered. 408, 429 and 5xx,
a timeout, a refused connection or a failed TLS handshake are tried again,
after ``Retry-After`` when the receiver sent one (seconds or an HTTP date),
else after the policy's back-off. Any other answer (3xx, 4xx) is final: the
receiver said no, and asking again would not change its mind.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from broker.clock import Clock
from broker.config.notify import WebhookSettings
from broker.errors import BrokerError, UnavailableError
from broker.notify.base import ConsentRequestNotice
from broker.notify.dispatch import DELIVERED, Attempt, Outcome
from broker.notify.payload import CONSENT_REQUESTED, Message
from broker.notify.secrets import WebhookSecrets
from broker.notify.signature import HEADER, sign
from broker.notify.transport import HttpAnswer, HttpTransport
from broker.typing import OrgId

CHANNEL = "webhook"
_AGAIN = {408: "timeout", 429: "throttled"}


class WebhookChannel:
    """Routes a notice to its org's webhook, if the org has one."""

    def __init__(
        self,
        hooks: Mapping[OrgId, WebhookSettings],
        secrets: WebhookSecrets,
        transport: HttpTransport,
        clock: Clock,
        timeout: float,
    ) -> None:
        self._hooks = dict(hooks)
        self._secrets = secrets
        self._transport = transport
        self._clock = clock
        self._timeout = timeout

    def route(self, notice: ConsentRequestNotice) -> Attempt | None:
        """One attempt at the org's webhook, or None when the org has none."""
        hook = self._hooks.get(notice.org_id)
        return None if hook is None else functools.partial(self._attempt, hook)

    async def _attempt(self, hook: WebhookSettings, message: Message) -> Outcome:
        try:
            secret = await self._secrets.get(hook, message.notice.region)
        except BrokerError as error:
            retry = isinstance(error, UnavailableError)
            return Outcome(ok=False, reason="secret_unavailable", retry=retry)
        headers = signed_headers(message, secret, int(self._clock.now().timestamp()))
        try:
            answer = await self._transport.post(
                hook.url, message.body, headers, ca_file=hook.ca_file, time_limit=self._timeout
            )
        except UnavailableError as error:
            return Outcome(ok=False, reason=error.code, retry=True)
        return judge(answer, self._clock.now())

    async def aclose(self) -> None:
        """Close the transport's connections."""
        await self._transport.aclose()


def signed_headers(message: Message, secret: bytes, timestamp: int) -> dict[str, str]:
    """The headers of one attempt, signed at ``timestamp``."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "region-broker-webhook/1",
        "X-Broker-Event": CONSENT_REQUESTED,
        "X-Broker-Delivery": message.delivery_id,
        HEADER: sign(secret, timestamp, message.body),
    }


def judge(answer: HttpAnswer, now: datetime) -> Outcome:
    """The outcome of a receiver's answer (see the module docstring)."""
    status = answer.status
    if 200 <= status < 300:
        return Outcome(ok=True, reason=DELIVERED.reason, status=status)
    if status in _AGAIN or status >= 500:
        wait = retry_after(answer.retry_after, now)
        reason = _AGAIN.get(status, "server_error")
        return Outcome(ok=False, reason=reason, status=status, retry=True, retry_after=wait)
    return Outcome(ok=False, reason="rejected", status=status)


def retry_after(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` in seconds from ``now`` (delta-seconds or an HTTP date), else None."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())
