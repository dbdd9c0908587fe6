"""Certificate signing rate: Ed25519 OpenSSH user certificates per second, one core.

A benchmark, not a test: it reports, it asserts nothing. Three layers, so the
session-grant benchmark (issue 3) can be read against what signing alone costs:

* ``ed25519_signatures``: bare Ed25519 signatures over a certificate-sized body
  (``cryptography``), the floor any certificate costs;
* ``certificates``: asyncssh ``generate_user_certificate`` + export, with the
  user key already parsed: what the CA cost before it wrote certificates itself;
* ``region_ca_signs``: ``RegionCA.sign`` as the API calls it: parse and check
  the OpenSSH public key line, build key id and serial, sign (``broker.sshcert``),
  export.

Run: ``python -m benchmarks.signing`` (one process, one thread, so one core).
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncssh
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.ca import RegionCA
from broker.clock import FakeClock
from broker.models import Session
from broker.typing import OrgId, Region, SessionId, StaffId, TargetName, TicketId

_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _rate(operation: Callable[[], object], seconds: float) -> tuple[int, float]:
    """Run ``operation`` for about ``seconds``; return (count, elapsed)."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(100):
            operation()
        count += 100
    return count, time.perf_counter() - start


def _session() -> Session:
    """A live session of the CA's region, built before timing starts."""
    return Session(
        id=SessionId("3f2b6c1e-0d7a-4c55-9e8f-0a1b2c3d4e5f"),
        org_id=OrgId("org-1"),
        ticket_id=TicketId("T-1001"),
        staff_id=StaffId("staff-42"),
        target=TargetName("app-1"),
        region=Region("eu-central-1"),
        basis="intra-eea",
        state="issued",
        created_at=_AT,
        valid_before=_AT + timedelta(minutes=15),
        source_address="127.0.0.1/32",
    )


def _operations() -> dict[str, Callable[[], object]]:
    """The three measured operations, sharing one CA key and one user key."""
    ca_key = asyncssh.generate_private_key("ssh-ed25519")
    user_line = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    user_key = asyncssh.import_public_key(user_line)
    raw_key = Ed25519PrivateKey.generate()
    body = b"\x5a" * 300  # about a session certificate's signed part
    ca = RegionCA(Region("eu-central-1"), ca_key, FakeClock(_AT))
    session = _session()

    def certificate() -> bytes:
        cert = ca_key.generate_user_certificate(
            user_key, "s/a/t", serial=1, principals=["s"], permit_port_forwarding=False
        )
        return cert.export_certificate()

    return {
        "ed25519_signatures": lambda: raw_key.sign(body),
        "certificates": certificate,
        "region_ca_signs": lambda: ca.sign(session, user_line),
    }


def run(seconds: float = 1.0) -> dict[str, object]:
    """Measure each layer for about ``seconds``; report operations per second."""
    report: dict[str, object] = {"benchmark": "ca.signing"}
    for name, operation in _operations().items():
        count, elapsed = _rate(operation, seconds)
        report[f"{name}_per_second"] = round(count / elapsed)
    report["python"] = platform.python_version()
    report["asyncssh"] = asyncssh.__version__
    return report


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
