"""The SNS channel (AWS mode): the same message to the topic of the org's region.

A region's topic is ``aws.regions.<region>.notify_topic_arn``; the config
refuses a topic whose ARN names another region, and ``SnsPublisher``
checks again before publishing, so a notice about an org in one region is
never published in another. A region with no topic sends nothing. The
message carries the attribute ``type`` (``consent.requested``) for
subscription filter policies.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from broker.aws.sns import SnsPublisher
from broker.errors import RegionMismatch, UnavailableError
from broker.notify.base import ConsentRequestNotice
from broker.notify.dispatch import DELIVERED, Attempt, Outcome
from broker.notify.payload import CONSENT_REQUESTED, Message
from broker.typing import Region

CHANNEL = "sns"


class SnsChannel:
    """Routes a notice to its region's topic, if the region has one."""

    def __init__(self, publisher: SnsPublisher, topics: Mapping[Region, str]) -> None:
        self._publisher = publisher
        self._topics = dict(topics)

    def route(self, notice: ConsentRequestNotice) -> Attempt | None:
        """One attempt at the notice's region's topic, or None when it has none."""
        topic = self._topics.get(notice.region)
        return None if topic is None else functools.partial(self._attempt, topic)

    async def _attempt(self, topic: str, message: Message) -> Outcome:
        try:
            await self._publisher.publish(
                message.notice.region, topic, message.body.decode(), {"type": CONSENT_REQUESTED}
            )
        except RegionMismatch as error:
            return Outcome(ok=False, reason=error.code)
        except UnavailableError as error:
            return Outcome(ok=False, reason=error.code, retry=error.code != "sns_rejected")
        return DELIVERED
