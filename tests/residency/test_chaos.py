"""Chaos on the split roles in AWS mode: a region's storage stops, the control plane stops.

One lab of ``tests.residency.world`` (no captures) for the module: ``broker
api`` in cp, ``broker region`` for eu-central-1 and us-east-1, each region's
moto in its own namespace. The tests run in file order: first eu-central-1's
storage stops, then the control plane, under a live us-east-1 session.
Decisions:

- **The region's storage** is its moto server (S3, KMS, CloudWatch Logs,
  Secrets Manager): it is stopped with SIGTERM, as a region's services
  going away. The EU unit finds out on its next upload pass (every 0.1 s
  here) and reports it in its next heartbeat (every second); until then a
  session may still open, so the test tries until the refusal comes
  (bounded), and every try names the reason it got.
- **The control plane** is the ``broker api`` process, killed with SIGKILL
  (no goodbye). The store (DynamoDB, a managed regional service; here the
  moto beside it) stays up: a store outage is its own fault, which fails
  closed (docs/reliability.md).
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator

import pytest

from tests.aws.conftest import EU, US
from tests.residency.conftest import needs_root
from tests.residency.netns import stop, wait_for
from tests.residency.world import (
    START_WAIT,
    STORAGE_ROLES,
    UNIT_ROLES,
    UNSERVED,
    Engineer,
    World,
    running,
    uploaded,
)

pytestmark = needs_root

STORAGE_DOWN = "the region's recording storage cannot be reached"
TRIES = 30
"""EU sessions tried (about a second each) before the refusal must have come."""


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """One lab with every role running, for the module."""
    with running(capture=False) as found:
        yield found


def ssh_once(engineer: Engineer, ticket: str, staff: str) -> str:
    """A grant and an ssh session typing one command; what the engineer saw (the CLI's
    error instead when the grant is refused)."""
    granted = engineer.try_open(ticket, staff)
    if granted.returncode != 0:
        return granted.stderr
    done = engineer.ssh(json.loads(granted.stdout), "echo open-$((6*7))\nexit 0\n")
    return done.stdout


class TestRegionStorageDown:
    """eu-central-1's moto stopped: EU refuses new sessions with the reason, US serves."""

    def test_new_eu_sessions_refused_us_unaffected(self, world: World) -> None:
        """EU sessions go from open, to refused at the gateway (once the unit's upload pass
        failed), to refused at the grant (once its heartbeat said so); a US one opens."""
        engineer = Engineer(world)
        assert "open-42" in ssh_once(engineer, "T-1001", "eng-de-1")
        stop(world.motos[STORAGE_ROLES[EU]])
        unserved = f"{UNSERVED} {EU}"
        seen = [ssh_once(engineer, "T-1001", "eng-de-1")]
        while unserved not in seen[-1] and len(seen) < TRIES:
            assert "open-42" in seen[-1] or STORAGE_DOWN in seen[-1], seen[-1]
            seen.append(ssh_once(engineer, "T-1001", "eng-de-1"))
        assert unserved in seen[-1], seen[-1]
        assert "open-42" in ssh_once(engineer, "T-2001", "eng-us-1")
        uploaded(world, US)


class TestControlPlaneDown:
    """``broker api`` killed: a live session runs to its own end, new grants are a clear 503."""

    def test_live_session_goes_on_and_grants_fail(self, world: World) -> None:
        """The live US shell answers after the kill and exits normally; its recording reaches
        the US storage; ``session open`` says 503 and that live sessions go on."""
        engineer = Engineer(world)
        grant = engineer.open("T-2001", "eng-us-1")
        live = engineer.live_ssh(grant)
        spool = world.state(UNIT_ROLES[US]) / "regions" / US / "recordings"
        wait_for((spool / f"{grant['session_id']}.cast").exists, "the shell", START_WAIT)
        stop(world.roles["cp"], signal.SIGKILL)
        refused = engineer.try_open("T-2001", "eng-us-1")
        assert refused.returncode == 2
        assert "(503 unavailable: connection refused)" in refused.stderr
        assert "live sessions go on" in refused.stderr
        try:
            out, _ = live.communicate("echo after-$((6*7))\nexit 0\n", timeout=START_WAIT)
        except subprocess.TimeoutExpired:
            stop(live)
            raise
        assert "after-42" in out
        assert "[gateway] connection closed" not in out
        assert live.returncode == 0
        uploaded(world, US)
        assert world.roles["us"].poll() is None
