"""A consent request's free text: emails and phone numbers in it are never kept raw.

The one field meant for free text. A US engineer asks with the generated
value in the reason, the customer admin denies with it in the reason, both
are read back over the API; afterwards no raw form may be found in any file
of the state folder (store, write-ahead log, audit trail), in the captured
logs or in any answer. (Names cannot be told from other words, so they are
not pseudonymised: the help and the README ask for none.)
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.auth.local import LocalAuthority
from broker.runtime.root import Runtime
from tests.privacy.strategies import emails, phone_numbers, raw_places


async def _ask_and_deny(runtime: Runtime, secret: str) -> str:
    """Ask, deny, list and show, each carrying ``secret``; every answer's text."""
    authority = LocalAuthority.from_state(runtime.config.state_dir, clock=runtime.clock)
    engineer = {"Authorization": f"Bearer {authority.mint_token('eng-us-1', 'engineer')}"}
    admin = {
        "Authorization": f"Bearer {authority.mint_token('cust-1', 'customer_admin', 'acme-de')}"
    }
    api, texts = runtime.api_url, []
    async with aiohttp.ClientSession() as http:
        body = {"duration_seconds": 3600, "reason": f"Customer contact: {secret}, urgent"}
        async with http.post(
            f"{api}/v1/tickets/T-1001/consent-requests", json=body, headers=engineer
        ) as made:
            assert made.status == 201, await made.text()
            texts.append(await made.text())
            request_id = (await made.json())["consent_request_id"]
        deny = {"reason": f"Call {secret} first"}
        async with http.post(
            f"{api}/v1/consent-requests/{request_id}/deny", json=deny, headers=admin
        ) as denied:
            assert denied.status == 200
            texts.append(await denied.text())
        for path, headers in (
            (f"/v1/consent-requests/{request_id}", engineer),
            ("/v1/consent-requests", admin),
        ):
            async with http.get(api + path, headers=headers) as shown:
                texts.append(await shown.text())
    return "\n".join(texts)


class TestConsentReason:
    """Property: the reason texts' emails and phones stay pseudonymised everywhere."""

    @settings(
        max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(secret=st.one_of(emails, phone_numbers()))
    async def test_nothing_raw_is_kept(
        self, running: Runtime, capfd: pytest.CaptureFixture[str], secret: str
    ) -> None:
        """Store, audit trail, logs and answers hold pseudonyms only."""
        answers = await _ask_and_deny(running, secret)
        running.auditor.flush()  # type: ignore[union-attr]
        captured = capfd.readouterr()
        state = Path(running.config.state_dir)
        assert raw_places(state, captured.out + captured.err + answers, secret) == []
