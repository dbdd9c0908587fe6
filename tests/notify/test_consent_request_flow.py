"""A real consent request notifies the org's webhook: signed, ids and a link, no reason."""

from __future__ import annotations

import asyncio
import json
import time

from broker.auth.local import LocalAuthority
from broker.cli.client import ApiClient
from broker.config import Config
from broker.notify.signature import HEADER, verify
from broker.runtime.root import Runtime
from broker.typing import Region
from tests.notify.conftest import EU, SECRET, webhook_config


class TestRequestNotifies:
    """``POST /v1/tickets/{id}/consent-requests`` on a running broker, to the receiver."""

    async def test_request_reaches_the_webhook_signed(
        self, http_receiver, secret_file, tmp_path
    ) -> None:
        """One signed POST naming the request, its ticket and console link; no reason text."""
        config = Config(
            state_dir=tmp_path / "state",
            regions=(EU, Region("us-east-1")),
            demo_targets=False,
            notify=webhook_config(http_receiver, secret_file).notify,
        )
        runtime = Runtime(config)
        await runtime.start()
        try:
            authority = LocalAuthority.from_state(config.state_dir, clock=runtime.clock)
            api = ApiClient(runtime.api_url, authority.mint_token("eng-us-1", "engineer"))
            body = {"duration_seconds": 3600, "reason": "Call anna@example.com"}
            path = "/v1/tickets/T-1001/consent-requests"
            made = await asyncio.to_thread(api.call, "POST", path, body)
            await runtime.notifier.channels[0].dispatcher.wait()
        finally:
            await runtime.stop()
        [received] = http_receiver.received
        verify(SECRET, received.headers[HEADER], received.body, time.time())
        document = json.loads(received.body)
        assert (document["request"], document["ticket"], document["org"]) == (
            made["consent_request_id"],
            "T-1001",
            "acme-de",
        )
        assert document["link"] == f"/console/requests/{made['consent_request_id']}"
        assert b"anna" not in received.body
        assert b"Call" not in received.body
