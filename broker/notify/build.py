"""The notifier a broker runs with, built from its config (the runtime calls this once).

Local mode: the ``[notify.webhooks]`` of the config, if any. AWS mode adds,
for every served region with a ``notify_topic_arn``, that topic. With
nothing configured the result has no channels and does nothing.
"""

from __future__ import annotations

from broker.aws.clients import ClientFactory
from broker.aws.sns import SnsPublisher
from broker.clock import Clock
from broker.config import Config, aws_settings, notify_settings
from broker.events import EventSink
from broker.keys import KeyStore
from broker.notify import sns, webhook
from broker.notify.channel import ChannelNotifier
from broker.notify.dispatch import Dispatcher
from broker.notify.fanout import Fanout
from broker.notify.secrets import WebhookSecrets
from broker.notify.transport import AiohttpTransport, HttpTransport


def build_notifier(
    config: Config,
    events: EventSink,
    clock: Clock,
    *,
    clients: ClientFactory | None = None,
    keys: KeyStore | None = None,
    transport: HttpTransport | None = None,
) -> Fanout:
    """Every configured channel; ``clients`` and ``keys``: AWS mode's (SNS, named secrets)."""
    settings = notify_settings(config)
    policy = settings.delivery
    channels: list[ChannelNotifier] = []
    if settings.webhooks:
        hooks = webhook.WebhookChannel(
            settings.webhooks,
            WebhookSecrets.load(settings.webhooks, keys),
            transport or AiohttpTransport(),
            clock,
            policy.timeout_seconds,
        )
        dispatcher = Dispatcher(webhook.CHANNEL, policy, events, clock)
        channels.append(ChannelNotifier(dispatcher, hooks.route, clock, close=hooks.aclose))
    if config.mode == "aws" and clients is not None:
        regions = aws_settings(config).regions
        topics = {
            region: arn
            for region in config.regions
            if (arn := regions[region].notify_topic_arn) is not None
        }
        if topics:
            topic = sns.SnsChannel(SnsPublisher(clients), topics)
            dispatcher = Dispatcher(sns.CHANNEL, policy, events, clock)
            channels.append(ChannelNotifier(dispatcher, topic.route, clock))
    return Fanout(channels)
