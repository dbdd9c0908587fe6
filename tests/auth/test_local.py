"""The local authority: minting, its signing key, and the choice of verifier."""

from __future__ import annotations

import os
import stat
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from broker.auth.jwks import DEFAULT_AUDIENCE
from broker.auth.local import LOCAL_ISSUER, SIGNING_KEY_FILE, LocalAuthority
from broker.auth.principal import Principal
from broker.errors import AuthenticationError, InputError, UnavailableError
from tests.auth.conftest import NOW


class TestLocalAuthority:
    """Local mode: the broker mints and verifies its own EdDSA tokens."""

    @pytest.mark.parametrize(
        ("role", "org"),
        [("engineer", None), ("customer_admin", "org-7"), ("ops", None), ("admin", None)],
    )
    def test_round_trip(self, authority, role, org):
        """A minted token verifies to the same principal."""
        token = authority.mint_token("sub-1", role, org=org)
        assert authority.verify_token(token) == Principal("sub-1", role, org)

    def test_key_file_is_created_private(self, tmp_path, authority):
        """The signing key is a 0600 PEM under <state>/auth/."""
        path = tmp_path / SIGNING_KEY_FILE
        assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    def test_key_is_reused(self, tmp_path, clock, authority):
        """Another instance on the same state verifies the first one's tokens."""
        token = authority.mint_token("sub-1", "ops")
        again = LocalAuthority.from_state(tmp_path, clock=clock)
        assert again.kid == authority.kid
        assert again.verify_token(token).role == "ops"

    def test_other_state_rejects(self, tmp_path, clock, authority):
        """A broker with another key refuses the token."""
        token = authority.mint_token("sub-1", "ops")
        other = LocalAuthority.from_state(tmp_path / "other", clock=clock)
        with pytest.raises(AuthenticationError) as caught:
            other.verify_token(token)
        assert caught.value.code == "token_invalid"

    def test_jwks_publishes_public_key_only(self, authority):
        """The JWKS has the EdDSA public key with kid, and no private part."""
        (key,) = authority.jwks()["keys"]
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert key["alg"] == "EdDSA"
        assert key["kid"] == authority.kid
        assert "d" not in key

    def test_token_claims(self, authority):
        """The token carries iss, aud, sub, role, iat, exp (and org only for admins)."""
        token = authority.mint_token("sub-1", "engineer", ttl=timedelta(minutes=5))
        body = jwt.decode(token, options={"verify_signature": False})
        assert body["iss"] == LOCAL_ISSUER
        assert body["aud"] == DEFAULT_AUDIENCE
        assert body["exp"] - body["iat"] == 300
        assert body["iat"] == int(NOW.timestamp())
        assert "org" not in body
        assert jwt.get_unverified_header(token)["alg"] == "EdDSA"

    @pytest.mark.parametrize(
        ("args", "field"),
        [
            (("", "engineer"), "subject"),
            (("x" * 257, "engineer"), "subject"),
            (("s", "root"), "role"),
            (("s", "customer_admin"), "org"),
            (("s", "customer_admin", ""), "org"),
            (("s", "engineer", "org-1"), "org"),
        ],
    )
    def test_mint_refuses_bad_input(self, authority, args, field):
        """Bad mint requests are InputErrors naming the field."""
        with pytest.raises(InputError) as caught:
            authority.mint_token(*args)
        assert caught.value.field == field

    @pytest.mark.parametrize(
        "ttl", [timedelta(0), timedelta(seconds=-1), timedelta(hours=12, seconds=1)]
    )
    def test_mint_refuses_bad_ttl(self, authority, ttl):
        """TTLs must be positive and bounded."""
        with pytest.raises(InputError) as caught:
            authority.mint_token("s", "ops", ttl=ttl)
        assert caught.value.field == "ttl"

    def test_wrong_key_type_in_state_fails_closed(self, tmp_path, clock):
        """A non-Ed25519 key file is UnavailableError, never replaced."""
        from cryptography.hazmat.primitives import serialization

        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = tmp_path / SIGNING_KEY_FILE
        path.parent.mkdir(mode=0o700)
        path.write_bytes(pem)
        os.chmod(path, 0o600)
        with pytest.raises(UnavailableError):
            LocalAuthority.from_state(tmp_path, clock=clock)
        assert path.read_bytes() == pem
