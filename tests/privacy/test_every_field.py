"""Personal data pushed through every field of every endpoint and every header.

The endpoints, their path and query parameters and their body fields come from
the running broker's own ``/openapi.json`` (an import record's fields from its
item schema, or from a valid example record where the document leaves items
open). Each field, one at a time, carries a generated name, email address or
phone number while the rest of the request stays valid; every request also
carries it in its headers, and once per endpoint it is a token's ``sub``.
Afterwards no raw form of it may be found in any file of the state folder (the
SQLite store and its write-ahead log, the audit trail) or in the captured logs.
Pseudonyms are fine. ``make test`` runs 8 generated examples besides the
fixed ones; ``BROKER_PRIVACY_EXAMPLES`` sets another count for a longer run.
"""

from __future__ import annotations

import copy
import os
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from hypothesis import HealthCheck, example, given, settings

from broker.auth.jwks import DEFAULT_AUDIENCE
from broker.auth.local import LOCAL_ISSUER, LocalAuthority, load_signing_key
from broker.runtime.root import Runtime
from tests.api.conftest import public_key
from tests.privacy.strategies import personal_data, raw_places

NO_ID = "00000000-0000-4000-8000-000000000000"
HEADERS = ("User-Agent", "X-Request-Id", "X-Forwarded-For", "X-Real-IP", "Referer", "From",
           "Accept-Language", "Forwarded", "X-Correlation-Id", "Origin")  # fmt: skip
# Valid path parameters, so that a body or query field is the only bad input.
PATH_VALUES = {"tickets": "T-1001", "staff": "eng-fr-9", "orgs": "acme-de", "sessions": NO_ID}
# Who calls, preferring the role that gets furthest: (subject, role, org).
CALLERS = {
    "admin": ("admin-1", "admin", None),
    "ops": ("ops-1", "ops", None),
    "customer_admin": ("cust-1", "customer_admin", "acme-de"),
    "engineer": ("eng-de-1", "engineer", None),
}


def _bodies(runtime: Runtime) -> dict[str, dict[str, Any]]:
    """A valid body for each request schema (the base each field is swapped into)."""
    soon = (runtime.clock.now() + timedelta(hours=1)).isoformat()
    key = public_key()
    return {
        "SessionRequest": {"ticket_id": "T-1001", "target": "app-1", "public_key": key,
                           "ttl_seconds": 600, "source_address": "127.0.0.1/32"},
        "ConsentRequest": {"staff_id": "eng-us-1", "expires_at": soon},
        "TicketPatch": {"status": "open"},
        "NewConsentRequest": {"duration_seconds": 3600, "reason": "to reproduce the bug"},
        "ConsentRequestApproval": {"duration_seconds": 3600},
        "ConsentRequestDenial": {"reason": "not this week"},
        "StaffPatch": {"active": False},
        "ImportDocument": {
            "orgs": [{"id": "org-p", "region": "eu-central-1", "tier": "standard",
                      "record_input": True}],
            "staff": [{"id": "eng-p-1", "country": "DE", "active": True}],
            "tickets": [{"id": "T-P-1", "org_id": "org-p", "severity": 2, "scope": "product",
                         "status": "open"}],
            "targets": [{"org_id": "org-p", "name": "app-p", "region": "eu-central-1",
                         "host": "127.0.0.1", "port": 22, "user": "support", "host_key": key}],
        },
    }  # fmt: skip


def _fields(schema: dict[str, Any], base: dict[str, Any]) -> Iterator[tuple[str, ...]]:
    """Paths to every field: the schema's properties, an array's item properties."""
    for name, prop in schema.get("properties", {}).items():
        items = prop.get("items", {}) if prop.get("type") == "array" else None
        if items is None:
            yield (name,)
            continue
        keys = items.get("properties") or (base.get(name) or [{}])[0]
        yield from ((name, "0", key) for key in keys)


def _swap(body: dict[str, Any], path: tuple[str, ...], secret: str) -> dict[str, Any]:
    """A deep copy of ``body`` with the field at ``path`` set to ``secret``."""
    copied = copy.deepcopy(body)
    target: Any = copied
    for step in path[:-1]:
        target = target[int(step)] if step.isdigit() else target.setdefault(step, [{}])
    target[path[-1]] = secret
    return copied


def _fill(template: str, value: str | None = None) -> str:
    """The path with every parameter set to ``value``, or to a valid one."""
    parts = template.strip("/").split("/")
    filled = []
    for i, part in enumerate(parts):
        if not part.startswith("{"):
            filled.append(part)
        elif value is not None:
            filled.append(urllib.parse.quote(value, safe=""))
        else:
            filled.append(PATH_VALUES.get(parts[i - 1], NO_ID))
    return "/" + "/".join(filled)


def _requests(
    document: dict[str, Any], bodies: dict[str, dict[str, Any]], secret: str
) -> Iterator[tuple[str, str, str | None, dict[str, Any] | None]]:
    """(method, path, role, body) for every way ``secret`` goes into each endpoint."""
    schemas = document["components"]["schemas"]
    for template, operations in document["paths"].items():
        for method, op in operations.items():
            role = next((r for r in CALLERS if r in op.get("x-roles", [])), None)
            name = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = name.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1] or None
            base = bodies.get(ref) if ref else None
            if "{" in template:
                yield method, _fill(template, secret), role, base
            for param in op.get("parameters", []):
                if param["in"] == "query":
                    query = urllib.parse.urlencode({param["name"]: secret})
                    yield method, f"{_fill(template)}?{query}", role, base
            if base is not None:
                yield method, _fill(template), role, {**base, secret: 1}
                for path in _fields(schemas[ref], base):
                    yield method, _fill(template), role, _swap(base, path, secret)
            yield method, _fill(template), None, base  # the token's sub is the secret


def _token(state: Path, runtime: Runtime, role: str | None, secret: str) -> str:
    """A caller's token; for ``role`` None, a validly signed token whose sub is ``secret``."""
    if role is not None:
        authority = LocalAuthority.from_state(state, clock=runtime.clock)
        return authority.mint_token(*CALLERS[role])
    now = int(runtime.clock.now().timestamp())
    claims = {"iss": LOCAL_ISSUER, "aud": DEFAULT_AUDIENCE, "sub": secret, "role": "admin",
              "iat": now, "exp": now + 600}  # fmt: skip
    return jwt.encode(claims, load_signing_key(state), algorithm="EdDSA")


async def _push(runtime: Runtime, secret: str) -> dict[int, int]:
    """Send ``secret`` through everything; the count of answers by status."""
    state = runtime.config.state_dir
    headers = {name: secret for name in HEADERS} | {"Forwarded": f'for="{secret}"'}
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{runtime.api_url}/openapi.json") as response:
            document = await response.json()
        for method, path, role, body in _requests(document, _bodies(runtime), secret):
            auth = {"Authorization": f"Bearer {_token(state, runtime, role, secret)}"}
            async with http.request(
                method.upper(), runtime.api_url + path, json=body, headers=auth
            ) as answer:
                await answer.read()
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
    return statuses


class TestEveryFieldEveryHeader:
    """Property: no raw personal data in the store, the audit trail or the logs."""

    @settings(
        max_examples=int(os.environ.get("BROKER_PRIVACY_EXAMPLES", "8")),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(secret=personal_data)
    @example(secret="015123456700")  # a national number typed without grouping
    @example(secret="Anna-Lena Müller")
    @example(secret="anna.mueller@example.com")
    async def test_nothing_raw_is_kept(
        self, running: Runtime, capfd: pytest.CaptureFixture[str], secret: str
    ) -> None:
        """Every field and header of every endpoint, then a search of every file and log."""
        statuses = await _push(running, secret)
        running.auditor.flush()  # type: ignore[union-attr]
        captured = capfd.readouterr()
        state = Path(running.config.state_dir)
        assert raw_places(state, captured.out + captured.err, secret) == []
        assert statuses.get(400, 0) > 20  # the fields really were read and refused
        assert statuses.get(401, 0) >= 10  # ... and so were the subjects
        assert not any(status >= 500 for status in statuses)
        assert b"auth.failed" in b"".join(p.read_bytes() for p in state.glob("regions/*/audit/*/*"))
