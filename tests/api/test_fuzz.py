"""schemathesis against the live API's own ``/openapi.json``, once per role.

Every check runs (tests/api/schemathesis.toml says where a rule between
fields allows a 400): positive and negative data, the coverage phase, and
the stateful phase that follows the document's links (from the operations
that need no id: a customer admin has none, so its fuzzing phase carries
it). The result must be no
5xx and no response the document does not describe. ``make test`` runs a
bounded number of examples with a fixed seed; ``make fuzz`` runs many more
with a fresh seed (``BROKER_FUZZ_EXAMPLES``, ``BROKER_FUZZ_SEED``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.api.conftest import Api

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = os.environ.get("BROKER_FUZZ_EXAMPLES", "20")
SEED = os.environ.get("BROKER_FUZZ_SEED", "20")
ROLES = {
    "engineer": ("eng-de-1", None),
    "customer_admin": ("cust-1", "acme-de"),
    "ops": ("ops-1", None),
    "admin": ("root", None),
}


class TestSchemathesis:
    """The API keeps the promises of its OpenAPI document for every role."""

    @pytest.mark.parametrize("role", ROLES)
    async def test_no_server_error_and_no_schema_violation(self, api: Api, role, tmp_path):
        """schemathesis finds nothing: exit status 0 (its report is shown otherwise)."""
        subject, org = ROLES[role]
        token = api.authority.mint_token(subject, role, org)
        url = f"http://127.0.0.1:{api.client.server.port}/openapi.json"
        args = [str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", url]
        args += ["-H", f"Authorization: Bearer {token}", "--checks", "all", "--workers", "1"]
        args += ["--max-examples", EXAMPLES, "--no-color", "--suppress-health-check", "all"]
        if SEED:
            args += ["--seed", SEED]
        process = await asyncio.create_subprocess_exec(
            *args,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
        report, _ = await process.communicate()
        assert process.returncode == 0, report.decode(errors="replace")[-20000:]
        assert b" passed" in report
