"""The webhook channel against a real loopback receiver (HTTPS with a test CA, or dev http)."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import fields, replace
from datetime import timedelta
from email.utils import format_datetime

import pytest
from structlog.testing import capture_logs

from broker.errors import InputError
from broker.notify.base import ConsentRequestNotice
from broker.notify.build import build_notifier
from broker.notify.signature import HEADER, verify
from broker.notify.transport import HttpAnswer
from broker.notify.webhook import judge, retry_after
from tests.notify.conftest import NOTICE, REASON, SECRET, SleepLog, announce, webhook_config


async def deliver(config, trail, clock, notice=NOTICE):
    """Build the notifier and announce ``notice`` (``announce``)."""
    await announce(build_notifier(config, trail, clock), notice)


def outcomes(trail):
    """Each attempt's audited outcome, as (event, attempts, status, reason, will_retry)."""
    return [
        (r["event"], r["attempts"], r.get("status"), r.get("reason"), r.get("will_retry"))
        for r in trail.records
    ]


class TestDelivery:
    """A delivery is one signed POST of ids and a link."""

    async def test_the_signature_verifies_and_the_body_is_ids_and_a_link(
        self, each_receiver, secret_file, trail, clock
    ):
        """The receiver's copy verifies with the org's secret; the body holds exactly the ids.

        Over HTTPS (a test CA), and over plain http to loopback in dev mode."""
        receiver = each_receiver
        await deliver(webhook_config(receiver, secret_file), trail, clock)
        [got] = receiver.received
        assert verify(SECRET, got.headers[HEADER], got.body, clock.now().timestamp())
        body = json.loads(got.body)
        assert body == {
            "type": "consent.requested",
            "id": got.headers["X-Broker-Delivery"],
            "org": "acme-de",
            "region": "eu-central-1",
            "request": NOTICE.request_id,
            "ticket": "T-1001",
            "link": NOTICE.link,
            "sent_at": "2026-12-01T09:00:00Z",
        }
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["X-Broker-Event"] == "consent.requested"

    async def test_a_tampered_body_fails_verification(self, receiver, secret_file, trail, clock):
        """The signature covers the body: one changed id and it no longer verifies."""
        await deliver(webhook_config(receiver, secret_file), trail, clock)
        [got] = receiver.received
        tampered = got.body.replace(b"T-1001", b"T-1002")
        with pytest.raises(Exception, match="no signature matches"):
            verify(SECRET, got.headers[HEADER], tampered, clock.now().timestamp())

    async def test_delivery_is_audited_in_the_orgs_region(
        self, receiver, secret_file, trail, clock
    ):
        """``notify.delivered`` in the notice's region, with the ids and the attempt count."""
        await deliver(webhook_config(receiver, secret_file), trail, clock)
        [record] = trail.records
        assert record["event"] == "notify.delivered"
        assert record["region"] == "eu-central-1"
        assert record["consent_request_id"] == NOTICE.request_id
        assert (record["channel"], record["attempts"], record["status"]) == ("webhook", 1, 200)
        assert record["delivery_id"] == receiver.received[0].headers["X-Broker-Delivery"]

    async def test_an_org_without_a_webhook_gets_nothing(self, receiver, secret_file, trail, clock):
        """Another org's notice is not sent to acme-de's URL, nor audited as a delivery."""
        other = replace(NOTICE, org_id="bank-de")
        await deliver(webhook_config(receiver, secret_file), trail, clock, other)
        assert receiver.received == []
        assert trail.records == []


class TestNoPersonalData:
    """Neither the body nor a log line carries the reason, the secret or the URL."""

    def test_a_notice_has_no_room_for_the_reason(self):
        """The notice type itself holds ids and a link: there is no field to put a reason in."""
        names = {f.name for f in fields(ConsentRequestNotice)}
        assert names == {"org_id", "region", "request_id", "ticket_id", "link"}

    async def test_body_and_logs_hold_no_reason_secret_or_url(
        self, receiver, secret_file, trail, clock
    ):
        """Whatever was written about the request, only ids travel; logs name no URL or secret."""
        receiver.answers = [(500, {})]
        with capture_logs() as logs:
            await deliver(webhook_config(receiver, secret_file), trail, clock)
        text = json.dumps(logs, default=str) + json.dumps(trail.records)
        for got in receiver.received:
            assert REASON.encode() not in got.body
            assert b"Jane" not in got.body
        assert len(logs) == 2
        assert SECRET.decode() not in text
        assert receiver.url not in text
        assert "/hook" not in text


class TestRetries:
    """Retries on the network, 408/429/5xx; back-off or Retry-After; bounded."""

    async def test_a_500_is_retried_then_delivered(self, receiver, secret_file, trail, clock):
        """First attempt 500 (audited, will retry), second delivered; one jittered back-off."""
        receiver.answers = [(500, {})]
        await deliver(webhook_config(receiver, secret_file), trail, clock)
        assert len(receiver.received) == 2
        assert outcomes(trail) == [
            ("notify.failed", 1, 500, "server_error", True),
            ("notify.delivered", 2, 200, None, None),
        ]
        [pause] = clock.sleeps
        assert 0 <= pause <= 1.0  # full jitter under first_delay_seconds
        first, second = (r.headers["X-Broker-Delivery"] for r in receiver.received)
        assert first == second  # receivers de-duplicate by it

    async def test_it_gives_up_after_max_attempts_and_audits_it(
        self, receiver, secret_file, trail, clock
    ):
        """Three 503s with max_attempts 3: three attempts, the last one final."""
        receiver.answers = [(503, {})] * 5
        config = webhook_config(receiver, secret_file, max_attempts=3)
        await deliver(config, trail, clock)
        assert len(receiver.received) == 3
        assert outcomes(trail) == [
            ("notify.failed", 1, 503, "server_error", True),
            ("notify.failed", 2, 503, "server_error", True),
            ("notify.failed", 3, 503, "server_error", False),
        ]

    @pytest.mark.parametrize(
        ("header", "expected"),
        [("7", 7.0), ("date", 120.0)],
        ids=["seconds", "http-date"],
    )
    async def test_retry_after_is_honoured(
        self, receiver, secret_file, trail, clock, header, expected
    ):
        """A 429's ``Retry-After`` (seconds or a date) is the pause, not the back-off."""
        if header == "date":
            header = format_datetime(clock.now() + timedelta(seconds=120), usegmt=True)
        receiver.answers = [(429, {"Retry-After": header})]
        await deliver(webhook_config(receiver, secret_file), trail, clock)
        assert clock.sleeps == [expected]
        assert outcomes(trail)[0] == ("notify.failed", 1, 429, "throttled", True)

    async def test_a_retry_after_past_the_budget_gives_up_now(
        self, receiver, secret_file, trail, clock
    ):
        """Asked to wait beyond ``give_up_after_seconds``: no sleep, a final failure."""
        receiver.answers = [(503, {"Retry-After": "4000"})]
        await deliver(webhook_config(receiver, secret_file), trail, clock)
        assert clock.sleeps == []
        assert outcomes(trail) == [("notify.failed", 1, 503, "server_error", False)]

    @pytest.mark.parametrize("status", [400, 302, 410])
    async def test_a_refusal_is_final(self, receiver, secret_file, trail, clock, status):
        """3xx (not followed) and 4xx but 408/429: the receiver said no; no retry."""
        receiver.answers = [(status, {"Location": "http://127.0.0.1:1/elsewhere"})]
        await deliver(webhook_config(receiver, secret_file), trail, clock)
        assert len(receiver.received) == 1
        assert outcomes(trail) == [("notify.failed", 1, status, "rejected", False)]

    async def test_an_unreachable_receiver_is_retried(self, receiver, secret_file, trail, clock):
        """Connection refused is a retryable ``connect_error``, audited at every attempt."""
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        receiver.url = f"https://127.0.0.1:{port}/hook"
        await deliver(webhook_config(receiver, secret_file, max_attempts=2), trail, clock)
        assert outcomes(trail) == [
            ("notify.failed", 1, None, "connect_error", True),
            ("notify.failed", 2, None, "connect_error", False),
        ]

    async def test_a_certificate_nobody_vouched_for_is_refused(
        self, receiver, secret_file, trail, clock
    ):
        """Without the test CA the receiver's certificate fails: ``tls_error``, nothing sent."""
        receiver.ca_file = None
        await deliver(webhook_config(receiver, secret_file, max_attempts=1), trail, clock)
        assert receiver.received == []
        assert outcomes(trail) == [("notify.failed", 1, None, "tls_error", False)]


class TestDevMode:
    """Plain http to loopback only with ``allow_http_loopback`` (delivery: ``TestDelivery``)."""

    def test_plain_http_without_the_flag_is_refused(self, http_receiver, secret_file):
        """The same URL without the flag is a config error naming the url field."""
        from broker.config import config_from_mapping

        hook = {"url": http_receiver.url, "secret_file": str(secret_file)}
        with pytest.raises(InputError) as caught:
            config_from_mapping({"notify": {"webhooks": {"acme-de": hook}}})
        assert caught.value.field == "notify.webhooks.acme-de.url"


class NeverWakes(SleepLog):
    """A clock whose sleeps never end: a delivery waiting to retry stays pending."""

    def __init__(self) -> None:
        super().__init__()
        self.asleep = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.asleep.set()
        await asyncio.Event().wait()


class TestBounds:
    """The in-memory queue is bounded, and shutdown drains with a deadline."""

    async def test_a_full_queue_refuses_and_audits(self, receiver, secret_file, trail, clock):
        """With max_pending 1 a second notice, while the first is pending, is refused."""
        config = webhook_config(receiver, secret_file, max_pending=1)
        notifier = build_notifier(config, trail, clock)
        await notifier.consent_requested(NOTICE)
        await notifier.consent_requested(NOTICE)
        await notifier.channels[0].dispatcher.wait()
        await notifier.aclose()
        assert len(receiver.received) == 1
        assert outcomes(trail) == [
            ("notify.failed", 0, None, "queue_full", False),  # refused at once
            ("notify.delivered", 1, 200, None, None),
        ]

    async def test_shutdown_cancels_what_the_deadline_leaves_and_audits_it(
        self, receiver, secret_file, trail
    ):
        """A delivery waiting to retry at shutdown (drain 0 s) is cancelled and audited."""
        clock = NeverWakes()
        receiver.answers = [(503, {})]
        config = webhook_config(receiver, secret_file, drain_seconds=0)
        notifier = build_notifier(config, trail, clock)
        await notifier.consent_requested(NOTICE)
        await clock.asleep.wait()
        await notifier.aclose()
        assert notifier.channels[0].dispatcher.pending == 0
        assert outcomes(trail) == [
            ("notify.failed", 1, 503, "server_error", True),
            ("notify.failed", 1, None, "shutdown", False),
        ]


class TestJudge:
    """The answer table: what each status means, and how ``Retry-After`` is read."""

    @pytest.mark.parametrize(
        ("status", "ok", "reason", "retry"),
        [
            (200, True, "delivered", False),
            (204, True, "delivered", False),
            (301, False, "rejected", False),
            (400, False, "rejected", False),
            (401, False, "rejected", False),
            (404, False, "rejected", False),
            (408, False, "timeout", True),
            (429, False, "throttled", True),
            (500, False, "server_error", True),
            (503, False, "server_error", True),
        ],
    )
    def test_each_status(self, clock, status, ok, reason, retry):
        """2xx delivered; 408, 429, 5xx retried; everything else final."""
        outcome = judge(HttpAnswer(status), clock.now())
        assert (outcome.ok, outcome.reason, outcome.retry, outcome.status) == (
            ok,
            reason,
            retry,
            status,
        )

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, None),
            ("120", 120.0),
            (" 5 ", 5.0),
            ("-5", None),
            ("1.5", None),
            ("soon", None),
            ("٣", None),
            ("Tue, 01 Dec 2026 09:02:00 GMT", 120.0),
            ("Tue, 01 Dec 2026 08:00:00 GMT", 0.0),
            ("Tue, 01 Dec 2026 09:02:00 -0000", None),
        ],
        ids=[
            "absent", "seconds", "spaces", "negative", "fraction", "word", "arabic-digit",
            "date", "past-date", "zone-unknown",
        ],
    )  # fmt: skip
    def test_retry_after(self, clock, value, expected):
        """Delta-seconds (ASCII digits) or an HTTP date; a past date is now; junk is ignored."""
        assert retry_after(value, clock.now()) == expected
