"""Publishing to an SNS topic through the region's own client.

The topic's region (in its ARN) must be the region asked for: a message
about one region's org is never handed to another region's SNS. Failures
are ``UnavailableError``: ``sns_rejected`` when asking again cannot help
(the topic is gone, the broker may not publish, the message is refused),
``sns_unavailable`` otherwise; never AWS's message text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from broker.aws.clients import ClientFactory
from broker.aws.errors import AWS_ERRORS, error_code
from broker.errors import RegionMismatch, UnavailableError
from broker.typing import Region

_FINAL = frozenset({"NotFound", "AuthorizationError", "InvalidParameter", "InvalidParameterValue"})
"""AWS error codes a retry cannot fix."""


def topic_region(arn: str) -> str:
    """The region field of an SNS topic ARN (``arn:aws:sns:REGION:ACCOUNT:NAME``)."""
    parts = arn.split(":")
    return parts[3] if len(parts) == 6 and parts[2] == "sns" else ""


class SnsPublisher:
    """Publishes text messages to topics, each through its own region's client."""

    def __init__(self, clients: ClientFactory) -> None:
        self._clients = clients

    async def publish(
        self, region: Region, topic_arn: str, message: str, attributes: Mapping[str, str]
    ) -> str:
        """Publish ``message`` to ``topic_arn`` in ``region``; the SNS message id."""
        if topic_region(topic_arn) != region:
            raise RegionMismatch("topic_region_mismatch", "the topic is in another region")
        return await asyncio.to_thread(self._publish, region, topic_arn, message, attributes)

    def _publish(
        self, region: Region, topic_arn: str, message: str, attributes: Mapping[str, str]
    ) -> str:
        client = self._clients.client("sns", region)
        typed = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        try:
            answer = client.publish(TopicArn=topic_arn, Message=message, MessageAttributes=typed)
        except AWS_ERRORS as error:
            aws = error_code(error)
            code = "sns_rejected" if aws in _FINAL else "sns_unavailable"
            raise UnavailableError(code, f"sns failed ({aws or 'network'})") from error
        return str(answer.get("MessageId", ""))
