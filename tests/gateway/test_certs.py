"""Pure certificate and session checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncssh
import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.gateway.certs import check_certificate, check_session, openssh_public, parse_certificate
from broker.models import Session
from broker.typing import OrgId, Region, SessionId, StaffId, TargetName, TicketId

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CA = asyncssh.generate_private_key("ssh-ed25519")
CA_PUBLIC = openssh_public(CA.export_public_key().decode())
USER = asyncssh.generate_private_key("ssh-ed25519")


def _blob(principals: list[str], signer: asyncssh.SSHKey = CA, **kw: object) -> bytes:
    cert = signer.generate_user_certificate(
        USER, "k", serial=7, principals=principals,
        valid_after=kw.pop("valid_after", NOW - timedelta(minutes=1)),
        valid_before=kw.pop("valid_before", NOW + timedelta(minutes=15)),
        permit_port_forwarding=False, permit_agent_forwarding=False,
        permit_x11_forwarding=False, permit_user_rc=False, **kw,
    )  # fmt: skip
    return bytes(cert.public_data)


class TestCheckCertificate:
    """Signer, principal, options and window."""

    def test_good(self) -> None:
        """A proper certificate passes and its serial is read."""
        info = parse_certificate(_blob(["s1"]))
        assert info is not None
        assert info.serial == 7
        assert check_certificate(info, "s1", CA_PUBLIC, NOW) is None

    @pytest.mark.parametrize(
        ("blob_args", "login", "now", "reason"),
        [((["s1"],), "s2", NOW, "principal_mismatch"),
         (([],), "s1", NOW, "principal_mismatch"),
         ((["s1"],), "s1", NOW + timedelta(hours=1), "expired"),
         ((["s1"],), "s1", NOW - timedelta(hours=1), "not_yet_valid")],
    )  # fmt: skip
    def test_refusals(self, blob_args: tuple, login: str, now: datetime, reason: str) -> None:
        """Each rule names its reason."""
        info = parse_certificate(_blob(*blob_args))
        assert check_certificate(info, login, CA_PUBLIC, now) == reason

    def test_other_ca(self) -> None:
        """Another CA's certificate is refused."""
        other = asyncssh.generate_private_key("ssh-ed25519")
        info = parse_certificate(_blob(["s1"], signer=other))
        assert check_certificate(info, "s1", CA_PUBLIC, NOW) == "unknown_ca"

    def test_force_command(self) -> None:
        """A forced command would turn the shell into exec: refused."""
        info = parse_certificate(_blob(["s1"], force_command="true"))
        assert check_certificate(info, "s1", CA_PUBLIC, NOW) == "critical_option"

    def test_plain_key(self) -> None:
        """A plain key is not a certificate."""
        info = parse_certificate(bytes(USER.public_data))
        assert check_certificate(info, "s1", CA_PUBLIC, NOW) == "not_a_certificate"

    @given(st.binary(max_size=512))
    def test_parse_never_raises(self, blob: bytes) -> None:
        """Arbitrary bytes parse to None rather than an exception."""
        assert parse_certificate(blob) is None or blob


SESSION = Session(
    id=SessionId("s1"), org_id=OrgId("o"), ticket_id=TicketId("t"), staff_id=StaffId("st"),
    target=TargetName("db"), region=Region("eu-central-1"), basis="intra-eea", state="issued",
    created_at=NOW, valid_before=NOW + timedelta(minutes=15), cert_serial=7,
)  # fmt: skip


class TestCheckSession:
    """The session must be issued, of this region, a terminal, unexpired, for this serial."""

    @pytest.mark.parametrize(
        ("change", "serial", "now", "reason"),
        [({}, 7, NOW, None),
         ({"region": Region("us-east-1")}, 7, NOW, "wrong_region"),
         ({"state": "revoked"}, 7, NOW, "session_revoked"),
         ({"state": "connected"}, 7, NOW, "session_connected"),
         ({}, 8, NOW, "serial_mismatch"),
         ({}, 7, NOW + timedelta(minutes=15), "session_expired"),
         ({"cert_serial": None}, 99, NOW, None),
         ({"access": "view", "cert_serial": None}, 99, NOW, "view_only_session"),
         ({"access": "view"}, 7, NOW, "view_only_session")],
    )  # fmt: skip
    def test_rules(self, change: dict, serial: int, now: datetime, reason: str | None) -> None:
        """Each rule names its reason."""
        session = replace(SESSION, **change)
        assert check_session(session, Region("eu-central-1"), serial, now) == reason
