"""The notifier the broker runs with: built from the config, wired in by the runtime."""

from __future__ import annotations

from broker.audit import AuditQuery
from broker.aws.clients import ClientFactory
from broker.config import Config, config_from_mapping
from broker.config.notify import DeliveryPolicy
from broker.events import MemorySink
from broker.notify.build import build_notifier
from broker.notify.channel import ChannelNotifier
from broker.notify.dispatch import Dispatcher
from broker.notify.fanout import Fanout
from broker.runtime.root import Runtime
from broker.typing import Region
from tests.notify.conftest import AWS_REGION, EU, NOTICE, webhook_config

TOPIC = "arn:aws:sns:eu-central-1:123456789012:consent-requests"


def channels(notifier: Fanout) -> list[str]:
    return [c.dispatcher.channel for c in notifier.channels]


class TestBuild:
    """Which channels a config gives."""

    def test_nothing_configured_gives_no_channel(self, clock):
        """The embedded defaults: a notifier that notifies nobody."""
        assert channels(build_notifier(Config(), MemorySink(), clock)) == []

    def test_a_webhook_gives_the_webhook_channel(self, receiver, secret_file, clock):
        """One ``[notify.webhooks.<org>]`` table: the webhook channel."""
        config = webhook_config(receiver, secret_file)
        assert channels(build_notifier(config, MemorySink(), clock)) == ["webhook"]

    def test_aws_mode_with_a_topic_adds_sns(self, clock):
        """A served region with ``notify_topic_arn``, and AWS clients: the SNS channel."""
        config = config_from_mapping(
            {
                "mode": "aws",
                "regions": [EU],
                "aws": {
                    "store_region": EU,
                    "regions": {EU: {**AWS_REGION, "notify_topic_arn": TOPIC}},
                },
            }
        )
        clients = ClientFactory()
        assert channels(build_notifier(config, MemorySink(), clock, clients=clients)) == ["sns"]
        assert clients.built == []  # nothing contacted until a notice comes


class Exploding:
    """A route that fails as a bug would."""

    def __call__(self, notice):
        raise RuntimeError("a bug in a channel")


class TestFanout:
    """Every channel hears of every notice; one channel's bug stops no other."""

    async def test_a_failing_channel_does_not_stop_the_next(
        self, receiver, secret_file, trail, clock
    ):
        """The first channel raises; the webhook behind it still delivers."""
        broken = ChannelNotifier(
            Dispatcher("broken", DeliveryPolicy(), trail, clock), Exploding(), clock
        )
        webhook = build_notifier(webhook_config(receiver, secret_file), trail, clock).channels[0]
        fanout = Fanout([broken, webhook])
        await fanout.consent_requested(NOTICE)
        await webhook.dispatcher.wait()
        await fanout.aclose()
        assert len(receiver.received) == 1


class TestRuntime:
    """``broker run`` builds the notifier from its config and hands it to the services."""

    async def test_the_runtime_notifies_and_audits_in_the_orgs_region(
        self, http_receiver, secret_file, tmp_path
    ):
        """A notice through ``ctx.notifier`` reaches the receiver; its trail records it."""
        data = webhook_config(http_receiver, secret_file)
        config = Config(
            state_dir=tmp_path / "state",
            regions=(EU, Region("us-east-1")),
            demo_targets=False,
            notify=data.notify,
        )
        runtime = Runtime(config)
        await runtime.start()
        try:
            assert runtime.ctx is not None
            assert runtime.ctx.notifier is runtime.notifier
            await runtime.ctx.notifier.consent_requested(NOTICE)
            await runtime.notifier.channels[0].dispatcher.wait()
            assert runtime.auditor is not None
            page = runtime.auditor.query(EU, AuditQuery(event="notify.delivered"))
            other = runtime.auditor.query("us-east-1", AuditQuery(event="notify.delivered"))
        finally:
            await runtime.stop()
        assert len(http_receiver.received) == 1
        [record] = page.records
        assert record["consent_request_id"] == NOTICE.request_id
        assert other.records == []
