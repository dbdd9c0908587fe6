"""The wire-format certificate writer, read back by cryptography, asyncssh and ssh-keygen."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess

import asyncssh
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    SSHCertificate,
    load_ssh_public_identity,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.sshcert import (
    PublicKeyBlob,
    UserCertificate,
    WireFormatError,
    certificate_type,
    parse_public_key_line,
    sign_user_certificate,
    string,
)

CA = Ed25519PrivateKey.generate()
CA_LINE = CA.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
CA_BLOB = base64.b64decode(CA_LINE.split()[1])


def user_key(kind: str = "ssh-ed25519") -> PublicKeyBlob:
    line = asyncssh.generate_private_key(kind).export_public_key().decode()
    return parse_public_key_line(line)


def line_of(cert: UserCertificate, blob: bytes) -> bytes:
    return certificate_type(cert.key.algorithm) + b" " + base64.b64encode(blob)


def read_back(cert: UserCertificate) -> SSHCertificate:
    parsed = load_ssh_public_identity(line_of(cert, sign_user_certificate(CA, CA_BLOB, cert)))
    assert isinstance(parsed, SSHCertificate)
    parsed.verify_cert_signature()
    return parsed


class TestSignUserCertificate:
    """What is written is what an independent parser reads, with a valid CA signature."""

    @pytest.mark.parametrize("kind", ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"])
    def test_fields_read_back_by_cryptography(self, kind):
        """Every field survives a round trip through cryptography's parser, for each key type."""
        cert = UserCertificate(
            user_key(kind), 7, "s/e/t", ("s",), 100, 200, (("source-address", "10.0.0.0/8"),)
        )
        parsed = read_back(cert)
        assert (parsed.serial, parsed.key_id, parsed.valid_principals) == (7, b"s/e/t", [b"s"])
        assert (parsed.valid_after, parsed.valid_before) == (100, 200)
        assert parsed.critical_options == {b"source-address": b"10.0.0.0/8"}
        assert parsed.extensions == {b"permit-pty": b""}
        assert parsed.signature_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH) == (
            CA_LINE
        )

    @settings(max_examples=50, deadline=None)
    @given(
        serial=st.integers(1, 2**64 - 1),
        key_id=st.text(min_size=1, max_size=40),
        principals=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=3),
        after=st.integers(0, 2**32),
    )
    def test_any_fields_round_trip(self, serial, key_id, principals, after):
        """Property: serial, key id (UTF-8), principals and times come back unchanged."""
        cert = UserCertificate(user_key(), serial, key_id, tuple(principals), after, after + 60)
        parsed = read_back(cert)
        assert parsed.serial == serial
        assert parsed.key_id.decode() == key_id
        assert [p.decode() for p in parsed.valid_principals] == principals

    def test_asyncssh_accepts_it_as_a_certificate_for_the_key(self):
        """asyncssh (the gateway's parser) reads the certificate and its subject key."""
        key = user_key()
        cert = UserCertificate(key, 1, "k", ("s",), 0, 2**40)
        imported = asyncssh.import_certificate(
            line_of(cert, sign_user_certificate(CA, CA_BLOB, cert))
        )
        assert imported.key.public_data == key.blob
        assert imported.principals == ["s"]

    def test_tampered_body_fails_the_signature(self):
        """One flipped byte in the body (here in the nonce) breaks the CA signature."""
        cert = UserCertificate(user_key(), 1, "k", ("s",), 0, 60)
        blob = bytearray(sign_user_certificate(CA, CA_BLOB, cert))
        blob[4 + 32 + 4 + 5] ^= 1  # type name (32 bytes), then the nonce
        parsed = load_ssh_public_identity(line_of(cert, bytes(blob)))
        assert isinstance(parsed, SSHCertificate)
        with pytest.raises(InvalidSignature):
            parsed.verify_cert_signature()

    @pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
    def test_ssh_keygen_lists_it(self, tmp_path):
        """OpenSSH's own reader shows the type, principal and the one extension."""
        cert = UserCertificate(user_key(), 42, "s1/e1/t1", ("s1",), 0, 2**40)
        path = tmp_path / "id-cert.pub"
        path.write_bytes(line_of(cert, sign_user_certificate(CA, CA_BLOB, cert)) + b"\n")
        shown = subprocess.run(
            ["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert "ssh-ed25519-cert-v01@openssh.com user certificate" in shown
        assert 'Key ID: "s1/e1/t1"' in shown
        assert "Serial: 42" in shown
        assert shown.split("Extensions:")[1].split() == ["permit-pty"]


class TestParsePublicKeyLine:
    """Only the line's own framing is trusted; a wrong blob is a WireFormatError."""

    def test_comment_is_ignored(self):
        """The comment after the blob is not part of the key."""
        key = user_key()
        assert parse_public_key_line(key.line() + " someone@laptop") == key

    @pytest.mark.parametrize(
        "line",
        [
            "ssh-ed25519",
            "ssh-ed25519 !!!",
            "ssh-ed25519 " + base64.b64encode(b"\x00\x00").decode(),
            "ssh-rsa " + base64.b64encode(string(b"ssh-ed25519") + string(b"k" * 32)).decode(),
            "ssh-ed25519 " + base64.b64encode(string(b"ssh-ed25519") + string(b"k" * 31)).decode(),
            "ssh-ed25519 "
            + base64.b64encode(string(b"ssh-ed25519") + string(b"k" * 32) + b"x").decode(),
            "ssh-ed25519 "
            + base64.b64encode(string(b"ssh-ed25519") + struct.pack(">I", 99)).decode(),
        ],
        ids=[
            "no-blob",
            "bad-base64",
            "truncated",
            "type-mismatch",
            "short",
            "trailing",
            "overlong",
        ],
    )
    def test_malformed_lines_are_refused(self, line):
        """Each malformed line raises WireFormatError."""
        with pytest.raises(WireFormatError):
            parse_public_key_line(line)

    def test_certificate_type_names(self):
        """Type names follow PROTOCOL.certkeys, security-key types included."""
        assert certificate_type(b"ssh-ed25519") == b"ssh-ed25519-cert-v01@openssh.com"
        assert certificate_type(b"sk-ssh-ed25519@openssh.com") == (
            b"sk-ssh-ed25519-cert-v01@openssh.com"
        )
