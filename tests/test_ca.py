"""The per-region SSH CA, checked against the real ``ssh-keygen -L``."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import stat
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import asyncssh
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from broker.ca import (
    CA_KEY_NAME,
    CARegistry,
    RegionCA,
    describe_certificate,
    make_key_id,
    parse_key_id,
    parse_user_key,
)
from broker.clock import FakeClock
from broker.errors import ConflictError, InputError, RegionMismatch, UnavailableError
from broker.keys import LocalKeyStore
from broker.models import Session
from broker.typing import (
    OrgId,
    Region,
    SessionId,
    StaffId,
    TargetName,
    TicketId,
)

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
REGION = Region("eu-central-1")
needs_ssh_keygen = pytest.mark.usefixtures("ssh_keygen_present")


@pytest.fixture
def ssh_keygen_present() -> None:
    """``ssh-keygen`` is installed (make test installs it): missing fails, never skips."""
    assert shutil.which("ssh-keygen") is not None, "run .ci/sysdeps"


def make_session(**changes) -> Session:
    session = Session(
        id=SessionId("3f2b6c1e-0d7a-4c55-9e8f-0a1b2c3d4e5f"),
        org_id=OrgId("org-1"),
        ticket_id=TicketId("T-1001"),
        staff_id=StaffId("staff-42"),
        target=TargetName("db-1"),
        region=REGION,
        basis="intra-eea",
        state="issued",
        created_at=NOW,
        valid_before=NOW + timedelta(minutes=15),
    )
    return replace(session, **changes)


def user_key_line(comment: str | None = None) -> str:
    key = asyncssh.generate_private_key("ssh-ed25519", comment=comment)
    return key.export_public_key().decode().strip()


def ssh_keygen_fields(cert_text: str, tmp_path) -> dict[str, list[str]]:
    """Run ``ssh-keygen -L`` and group its output lines under their headings."""
    path = tmp_path / "session-cert.pub"
    path.write_text(cert_text + "\n")
    output = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "UTC"},
    ).stdout
    fields: dict[str, list[str]] = {}
    current = ""
    for raw in output.splitlines()[1:]:
        line = raw.strip()
        if raw.startswith("        ") and not raw.startswith("                "):
            current, _, value = line.partition(":")
            fields[current] = [value.strip()] if value.strip() else []
        elif line:
            fields[current].append(line)
    return fields


@pytest.fixture
def clock():
    return FakeClock(NOW)


@pytest.fixture
async def ca(tmp_path, clock):
    return await RegionCA.load(REGION, LocalKeyStore(tmp_path), clock)


@needs_ssh_keygen
class TestCertificateFields:
    """Every certificate field as OpenSSH's own ssh-keygen reads it."""

    def test_ssh_keygen_shows_every_field(self, ca, tmp_path):
        """Principal, key id, serial, validity, permit-pty only, no force-command."""
        issued = ca.sign(make_session(), user_key_line())
        fields = ssh_keygen_fields(issued.certificate, tmp_path)
        assert fields["Type"] == ["ssh-ed25519-cert-v01@openssh.com user certificate"]
        assert fields["Key ID"] == ['"3f2b6c1e-0d7a-4c55-9e8f-0a1b2c3d4e5f/staff-42/T-1001"']
        assert fields["Serial"] == [str(issued.serial)]
        assert fields["Valid"] == ["from 2030-01-02T03:03:35 to 2030-01-02T03:19:05"]
        assert fields["Principals"] == ["3f2b6c1e-0d7a-4c55-9e8f-0a1b2c3d4e5f"]
        assert fields["Critical Options"] == ["(none)"]
        assert fields["Extensions"] == ["permit-pty"]
        assert fields["Signing CA"][0].startswith(f"ED25519 {ca.fingerprint} ")

    def test_source_address_is_a_critical_option(self, ca, tmp_path):
        """A session's source address becomes the certificate's source-address."""
        issued = ca.sign(make_session(source_address="127.0.0.0/8"), user_key_line())
        fields = ssh_keygen_fields(issued.certificate, tmp_path)
        assert fields["Critical Options"] == ["source-address 127.0.0.0/8"]
        assert fields["Extensions"] == ["permit-pty"]

    def test_bare_address_becomes_host_cidr(self, ca, tmp_path):
        """A single address is written as a /32."""
        issued = ca.sign(make_session(source_address="127.0.0.1"), user_key_line())
        fields = ssh_keygen_fields(issued.certificate, tmp_path)
        assert fields["Critical Options"] == ["source-address 127.0.0.1/32"]


class TestSign:
    """RegionCA.sign: what it issues and what it refuses."""

    def test_issued_record_matches_certificate(self, ca):
        """The returned fields are the certificate's fields."""
        issued = ca.sign(make_session(), user_key_line())
        info = describe_certificate(issued.certificate)
        assert info["serial"] == issued.serial
        assert info["key_id"] == issued.key_id
        assert info["valid_after"] == issued.valid_after == NOW - timedelta(seconds=30)
        assert info["valid_before"] == issued.valid_before == NOW + timedelta(minutes=15)
        assert info["ca_public_key"] == ca.public_key

    def test_serials_are_unique_and_nonzero(self, ca):
        """Each certificate gets its own random nonzero serial."""
        key = user_key_line()
        serials = {ca.sign(make_session(), key).serial for _ in range(200)}
        assert len(serials) == 200
        assert 0 not in serials
        assert all(0 < s < 2**64 for s in serials)

    def test_refuses_another_regions_session(self, ca):
        """A region's CA never signs for another region."""
        with pytest.raises(RegionMismatch) as caught:
            ca.sign(make_session(region=Region("us-east-1")), user_key_line())
        assert caught.value.code == "ca_region_mismatch"
        assert caught.value.ids["region"] == "eu-central-1"

    def test_key_comment_stays_out(self, ca):
        """A key comment (often user@host) is not copied into the certificate."""
        issued = ca.sign(make_session(), user_key_line(comment="someone@laptop"))
        assert "someone" not in issued.certificate
        assert len(issued.certificate.split()) == 2

    @pytest.mark.parametrize(
        "changes",
        [
            {"state": "revoked"},
            {"state": "closed"},
            {"valid_before": NOW},
            {"valid_before": NOW - timedelta(minutes=1)},
        ],
    )
    def test_refuses_sessions_that_are_not_live(self, ca, changes):
        """Revoked, closed or expired sessions get no certificate."""
        with pytest.raises(ConflictError) as caught:
            ca.sign(make_session(**changes), user_key_line())
        assert caught.value.code == "session_not_live"

    def test_refuses_validity_beyond_maximum(self, ca):
        """The CA's own ceiling backs up the policy's TTL cap."""
        session = make_session(valid_before=NOW + timedelta(hours=1, seconds=1))
        with pytest.raises(InputError) as caught:
            ca.sign(session, user_key_line())
        assert caught.value.field == "valid_before"

    @pytest.mark.parametrize(
        "source", ["", "not-an-ip", "10.0.0.1/8", "127.0.0.1/33", "127.0.0.1,10.0.0.1"]
    )
    def test_bad_source_address_names_the_field(self, ca, source):
        """Malformed or host-bit CIDRs are InputErrors naming source_address."""
        with pytest.raises(InputError) as caught:
            ca.sign(make_session(source_address=source), user_key_line())
        assert caught.value.field == "source_address"

    @pytest.mark.parametrize(
        "field",
        [{"staff_id": StaffId("a/b")}, {"id": SessionId("a,b")}, {"ticket_id": TicketId("")}],
    )
    def test_ids_that_would_break_the_key_id_are_refused(self, ca, field):
        """Separators in ids would make the key id ambiguous."""
        with pytest.raises(InputError) as caught:
            ca.sign(make_session(**field), user_key_line())
        name = next(iter(field))
        assert caught.value.field == ("session_id" if name == "id" else name)


def weak_rsa_line() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


class TestPublicKeyInput:
    """Only one well-formed, acceptable public key line is signed."""

    @pytest.mark.parametrize(
        "make_text",
        [
            lambda: "",
            lambda: "garbage",
            lambda: "ssh-ed25519 AAAAnotbase64!!",
            lambda: user_key_line() + "\n" + user_key_line(),
            lambda: asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode(),
            weak_rsa_line,
            lambda: "x" * 20000,
        ],
        ids=["empty", "garbage", "bad-base64", "two-lines", "private-key", "rsa-1024", "huge"],
    )
    def test_invalid_keys_name_public_key(self, ca, make_text):
        """Each bad key is an InputError naming public_key."""
        with pytest.raises(InputError) as caught:
            ca.sign(make_session(), make_text())
        assert caught.value.field == "public_key"

    def test_certificate_is_not_a_public_key(self, ca):
        """A certificate handed in as the key is refused, not re-signed."""
        issued = ca.sign(make_session(), user_key_line())
        with pytest.raises(InputError) as caught:
            ca.sign(make_session(), issued.certificate)
        assert caught.value.field == "public_key"

    def test_parsed_key_is_accepted(self, ca):
        """A key parse_user_key already parsed is signed without parsing again."""
        line = user_key_line()
        issued = ca.sign(make_session(), parse_user_key(line))
        cert = asyncssh.import_certificate(issued.certificate)
        assert cert.key.export_public_key().decode().strip() == line

    def test_parsed_weak_key_is_still_refused(self, ca):
        """A pre-parsed key goes through the same type checks."""
        weak = asyncssh.import_public_key(weak_rsa_line())
        with pytest.raises(InputError) as caught:
            ca.sign(make_session(), weak)
        assert caught.value.field == "public_key"

    def test_ecdsa_key_is_accepted(self, ca):
        """Other sound key types are signed too."""
        key = asyncssh.generate_private_key("ecdsa-sha2-nistp256").export_public_key()
        issued = ca.sign(make_session(), key.decode())
        assert issued.certificate.startswith("ecdsa-sha2-nistp256-cert-v01@openssh.com ")


class TestLoad:
    """RegionCA.load: one key per region, made once, kept private, reused."""

    async def test_key_file_is_private(self, tmp_path, clock):
        """The CA key is created 0600 under regions/<region>/ca/ (dir 0700)."""
        await RegionCA.load(REGION, LocalKeyStore(tmp_path), clock)
        path = tmp_path / "regions" / "eu-central-1" / "ca" / CA_KEY_NAME
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    async def test_key_is_reused_across_instances(self, tmp_path, clock):
        """A second load (another process, a restart) gets the same CA."""
        first = await RegionCA.load(REGION, LocalKeyStore(tmp_path), clock)
        second = await RegionCA.load(REGION, LocalKeyStore(tmp_path), clock)
        assert first.public_key == second.public_key
        assert first.public_key.startswith("ssh-ed25519 ")

    async def test_regions_have_different_keys(self, tmp_path, clock):
        """Each region has its own key."""
        store = LocalKeyStore(tmp_path)
        de = await RegionCA.load(REGION, store, clock)
        us = await RegionCA.load(Region("us-east-1"), store, clock)
        assert de.public_key != us.public_key

    async def test_concurrent_first_creation_agrees(self, tmp_path, clock):
        """Loaders racing to create the key all end with one and the same key."""
        cas = await asyncio.gather(
            *(RegionCA.load(REGION, LocalKeyStore(tmp_path), clock) for _ in range(12))
        )
        assert len({ca.public_key for ca in cas}) == 1

    async def test_corrupt_key_fails_closed(self, tmp_path, clock):
        """An unreadable key is UnavailableError, never a silently new key."""
        store = LocalKeyStore(tmp_path)
        await store.put(REGION, CA_KEY_NAME, b"not a key")
        with pytest.raises(UnavailableError) as caught:
            await RegionCA.load(REGION, store, clock)
        assert caught.value.code == "ca_key_invalid"
        assert await store.get(REGION, CA_KEY_NAME) == b"not a key"


class TestCARegistry:
    """The lazy map from region to RegionCA."""

    async def test_creates_nothing_until_asked(self, tmp_path, clock):
        """No key exists before a region's CA is first needed."""
        registry = CARegistry(LocalKeyStore(tmp_path), clock)
        assert not (tmp_path / "regions").exists()
        ca = await registry.get(REGION)
        assert ca.region == REGION
        assert (tmp_path / "regions" / "eu-central-1" / "ca" / CA_KEY_NAME).exists()

    async def test_returns_one_ca_per_region(self, tmp_path, clock):
        """Concurrent first requests share one RegionCA object."""
        registry = CARegistry(LocalKeyStore(tmp_path), clock)
        cas = await asyncio.gather(*(registry.get(REGION) for _ in range(8)))
        assert all(ca is cas[0] for ca in cas)

    async def test_sign_uses_the_sessions_region(self, tmp_path, clock):
        """registry.sign picks the session's own region's CA."""
        registry = CARegistry(LocalKeyStore(tmp_path), clock)
        session = make_session(region=Region("eu-west-2"))
        issued = await registry.sign(session, user_key_line())
        info = describe_certificate(issued.certificate)
        assert info["ca_public_key"] == (await registry.get(Region("eu-west-2"))).public_key
        assert info["ca_public_key"] != (await registry.get(REGION)).public_key

    async def test_max_validity_is_configurable(self, tmp_path, clock):
        """A registry made with a longer ceiling signs longer sessions."""
        registry = CARegistry(LocalKeyStore(tmp_path), clock, max_validity=timedelta(hours=2))
        session = make_session(valid_before=NOW + timedelta(minutes=90))
        issued = await registry.sign(session, user_key_line())
        assert issued.valid_before == NOW + timedelta(minutes=90)


class TestDescribeCertificate:
    """Reading key id and serial back from a certificate, as the gateway must."""

    def test_reads_text_and_wire_blob_alike(self, ca):
        """The OpenSSH line and the raw wire blob describe the same certificate."""
        issued = ca.sign(make_session(source_address="127.0.0.1/32"), user_key_line())
        blob = base64.b64decode(issued.certificate.split()[1])
        from_text = describe_certificate(issued.certificate)
        assert describe_certificate(blob) == from_text
        assert describe_certificate(issued.certificate.encode()) == from_text
        assert from_text["type"] == "user"
        assert from_text["principals"] == ["3f2b6c1e-0d7a-4c55-9e8f-0a1b2c3d4e5f"]
        assert from_text["extensions"] == ["permit-pty"]
        assert from_text["critical_options"] == {"source-address": "127.0.0.1/32"}

    def test_reads_asyncssh_exported_blob(self, ca):
        """The blob asyncssh re-exports from a parsed certificate is readable."""
        issued = ca.sign(make_session(), user_key_line())
        cert = asyncssh.import_certificate(issued.certificate)
        assert describe_certificate(cert.public_data)["serial"] == issued.serial

    def test_tampered_certificate_is_refused(self, ca):
        """Changing a signed byte breaks the CA signature."""
        issued = ca.sign(make_session(), user_key_line())
        blob = bytearray(base64.b64decode(issued.certificate.split()[1]))
        blob[100] ^= 0x01
        with pytest.raises(InputError) as caught:
            describe_certificate(bytes(blob))
        assert caught.value.field == "certificate"

    @pytest.mark.parametrize("text", ["", "garbage", "\x00\x00\x00", "\x00\x00\x01\x00abc"])
    def test_garbage_is_refused(self, text):
        """Non-certificates are InputErrors naming certificate."""
        with pytest.raises(InputError) as caught:
            describe_certificate(text)
        assert caught.value.field == "certificate"

    def test_plain_key_is_not_a_certificate(self):
        """A plain public key is refused."""
        with pytest.raises(InputError) as caught:
            describe_certificate(user_key_line())
        assert caught.value.field == "certificate"


class TestKeyId:
    """The key id format and its inverse."""

    def test_round_trip(self):
        """parse_key_id inverts make_key_id."""
        ids = (SessionId("s-1"), StaffId("staff-2"), TicketId("T-3"))
        assert parse_key_id(make_key_id(*ids)) == ids

    @pytest.mark.parametrize("key_id", ["", "a/b", "a/b/c/d", "a//c", "a/b c/d"])
    def test_parse_refuses_other_shapes(self, key_id):
        """Anything but three clean ids is an InputError naming key_id."""
        with pytest.raises(InputError) as caught:
            parse_key_id(key_id)
        assert caught.value.field == "key_id"
