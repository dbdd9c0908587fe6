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
from broker.config.notify import NotifySettings
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
    """Every configured channel; ``clients`` and ``keys``: AWS mode's (SNS, named secrets).

    Reads every ``secret_file`` now: ``InputError`` naming the field if one is unusable."""
    settings = notify_settings(config)
    channels: list[ChannelNotifier] = []
    if settings.webhooks:
        hooks = webhook.WebhookChannel(
            settings.webhooks,
            WebhookSecrets.load(settings.webhooks, keys),
            transport or AiohttpTransport(),
            clock,
            settings.delivery.timeout_seconds,
        )
        dispatcher = Dispatcher(webhook.CHANNEL, settings.delivery, events, clock)
        channels.append(ChannelNotifier(dispatcher, hooks.route, clock, close=hooks.aclose))
    if config.mode == "aws" and clients is not None:
        channels.extend(_sns(config, settings, events, clock, clients))
    return Fanout(channels)


def _sns(
    config: Config,
    settings: NotifySettings,
    events: EventSink,
    clock: Clock,
    clients: ClientFactory,
) -> list[ChannelNotifier]:
    """The SNS channel over every served region's topic; none when no region has one."""
    regions = aws_settings(config).regions
    topics = {
        region: arn
        for region in config.regions
        if (arn := regions[region].notify_topic_arn) is not None
    }
    if not topics:
        return []
    dispatcher = Dispatcher(sns.CHANNEL, settings.delivery, events, clock)
    route = sns.SnsChannel(SnsPublisher(clients), topics).route
    return [ChannelNotifier(dispatcher, route, clock)]
