"""The SNS channel (AWS mode) against moto: the message reaches the org's region's topic."""

from __future__ import annotations

import json
from dataclasses import replace

import boto3
import pytest

from broker.aws.clients import ClientFactory
from broker.aws.sns import SnsPublisher
from broker.config import aws_settings, config_from_mapping
from broker.config.notify import DeliveryPolicy
from broker.errors import RegionMismatch
from broker.notify.build import build_notifier
from broker.notify.channel import ChannelNotifier
from broker.notify.dispatch import Dispatcher
from broker.notify.sns import SnsChannel
from broker.typing import Region
from tests.aws.conftest import unique
from tests.aws.moto_server import MotoServer
from tests.notify.conftest import AWS_REGION, NOTICE, announce

EU, US = Region("eu-central-1"), Region("us-east-1")


def topic_with_queue(moto: MotoServer, region: Region) -> tuple[str, str]:
    """A fresh topic in ``region`` and the URL of an SQS queue subscribed to it."""
    sns = boto3.client("sns", region_name=region, endpoint_url=moto.url)
    sqs = boto3.client("sqs", region_name=region, endpoint_url=moto.url)
    topic = sns.create_topic(Name=unique("consent-requests"))["TopicArn"]
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    return topic, queue


def read_queue(moto: MotoServer, region: Region, queue: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name=region, endpoint_url=moto.url)
    answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def sns_notifier(moto: MotoServer, topic: str, trail, clock):
    """AWS mode serving eu-central-1 (with ``topic``) and us-east-1 (none); and its clients."""
    regions = {
        EU: {**AWS_REGION, "endpoint_url": moto.url, "notify_topic_arn": topic},
        US: {**AWS_REGION, "bucket": "rec-us", "endpoint_url": moto.url},
    }
    config = config_from_mapping(
        {"mode": "aws", "regions": [EU, US], "aws": {"store_region": EU, "regions": regions}}
    )
    clients = ClientFactory(aws_settings(config).endpoints())
    return build_notifier(config, trail, clock, clients=clients), clients


class TestPublish:
    """The same JSON as the webhook's, on the org's region's topic, through its client."""

    async def test_the_message_arrives_on_the_regions_topic(self, moto, trail, clock):
        """Read back through an SQS subscription: the body, the topic, the attribute, audited."""
        topic, queue = topic_with_queue(moto, EU)
        notifier, clients = sns_notifier(moto, topic, trail, clock)
        mark = moto.mark()
        await announce(notifier)
        assert {(s.service, s.region) for s in moto.since(mark)} == {("sns", EU)}
        [envelope] = read_queue(moto, EU, queue)
        assert envelope["TopicArn"] == topic
        body = json.loads(envelope["Message"])
        assert (body["type"], body["org"], body["region"]) == ("consent.requested", "acme-de", EU)
        assert (body["request"], body["ticket"], body["link"]) == (
            NOTICE.request_id,
            "T-1001",
            NOTICE.link,
        )
        assert envelope["MessageAttributes"]["type"]["Value"] == "consent.requested"
        assert clients.regions_built() == {EU}
        [record] = trail.records
        assert (record["event"], record["channel"], record["region"]) == (
            "notify.delivered",
            "sns",
            EU,
        )

    async def test_a_region_without_a_topic_publishes_nothing(self, moto, trail, clock):
        """A notice of a us-east-1 org, with only eu-central-1 having a topic: nothing sent."""
        topic, _queue = topic_with_queue(moto, EU)
        notifier, _clients = sns_notifier(moto, topic, trail, clock)
        mark = moto.mark()
        await announce(notifier, replace(NOTICE, region=US, org_id="acme-us"))
        assert moto.since(mark) == []
        assert trail.records == []

    async def test_a_vanished_topic_is_a_final_failure(self, moto, trail, clock):
        """A deleted topic (``NotFound``): audited ``sns_rejected``, not retried."""
        topic, _queue = topic_with_queue(moto, EU)
        boto3.client("sns", region_name=EU, endpoint_url=moto.url).delete_topic(TopicArn=topic)
        notifier, _clients = sns_notifier(moto, topic, trail, clock)
        await announce(notifier)
        [record] = trail.records
        assert (record["event"], record["reason"], record["will_retry"]) == (
            "notify.failed",
            "sns_rejected",
            False,
        )


class TestRegionPinned:
    """A topic in another region is refused before any request is made."""

    async def test_the_publisher_refuses_another_regions_topic(self, moto):
        """Publishing a eu-central-1 notice to a us-east-1 topic raises, sending nothing."""
        topic, _queue = topic_with_queue(moto, US)
        clients = ClientFactory({EU: moto.url, US: moto.url})
        mark = moto.mark()
        with pytest.raises(RegionMismatch):
            await SnsPublisher(clients).publish(EU, topic, "{}", {})
        assert moto.since(mark) == []
        assert clients.regions_built() == set()

    async def test_the_channel_audits_the_refusal_as_final(self, moto, trail, clock):
        """Even a wrongly wired channel (config would refuse it) fails closed and says so."""
        topic, queue = topic_with_queue(moto, US)
        clients = ClientFactory({EU: moto.url, US: moto.url})
        channel = SnsChannel(SnsPublisher(clients), {EU: topic})
        dispatcher = Dispatcher("sns", DeliveryPolicy(), trail, clock)
        await ChannelNotifier(dispatcher, channel.route, clock).consent_requested(NOTICE)
        await dispatcher.wait()
        assert read_queue(moto, US, queue) == []
        [record] = trail.records
        assert (record["reason"], record["will_retry"]) == ("topic_region_mismatch", False)
