"""Bearer-token verification against a JWKS: every way a token can be refused."""

from __future__ import annotations

import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from broker.auth.jwks import JwksVerifier, load_jwks
from broker.auth.local import SIGNING_KEY_FILE, LocalAuthority, build_verifier
from broker.auth.principal import Principal
from broker.errors import AuthenticationError, InputError
from tests.auth.conftest import B64URL, NOW, claims, forge


class TestVerifyFailures:
    """Each way a token can be wrong, and the code it gets."""

    def test_expired(self, authority, clock):
        """Past exp plus leeway: token_expired."""
        token = authority.mint_token("s", "ops", ttl=timedelta(minutes=1))
        clock.advance(65)
        with pytest.raises(AuthenticationError) as caught:
            authority.verify_token(token)
        assert caught.value.code == "token_expired"

    def test_leeway_is_small(self, authority, clock):
        """Within the 5 s leeway a just-expired token still passes; after, not."""
        token = authority.mint_token("s", "ops", ttl=timedelta(minutes=1))
        clock.advance(64)
        assert authority.verify_token(token).subject == "s"
        clock.advance(1)
        with pytest.raises(AuthenticationError):
            authority.verify_token(token)

    @pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "a.b.c.d", "x" * 9000])
    def test_malformed(self, authority, token):
        """Garbage is token_missing (empty) or token_invalid."""
        with pytest.raises(AuthenticationError) as caught:
            authority.verify_token(token)
        assert caught.value.code == ("token_missing" if token == "" else "token_invalid")

    @pytest.mark.parametrize(
        "changes",
        [
            {"aud": "urn:someone-else"},
            {"iss": "urn:someone-else"},
            {"role": "root"},
            {"role": None},
            {"sub": None},
            {"sub": ""},
            {"sub": 12},
            {"exp": None},
            {"iat": None},
            {"exp": "soon"},
            {"exp": True},
            {"iat": int(NOW.timestamp()) + 60},
            {"nbf": int(NOW.timestamp()) + 60},
            {"role": "customer_admin"},
            {"role": "customer_admin", "org": ""},
            {"role": "customer_admin", "org": ["a"]},
        ],
        ids=repr,
    )
    def test_bad_claims(self, authority, tmp_path, changes):
        """Correctly signed tokens with unacceptable claims are token_invalid."""
        from broker.auth.local import load_signing_key

        token = forge(load_signing_key(tmp_path), claims(**changes), kid=authority.kid)
        with pytest.raises(AuthenticationError) as caught:
            authority.verify_token(token)
        subject_bad = changes.get("sub") == ""  # PyJWT itself refuses a non-string sub
        assert caught.value.code == ("token_subject_invalid" if subject_bad else "token_invalid")

    def test_stray_org_is_ignored_for_other_roles(self, authority, tmp_path):
        """An org claim gives an engineer no org."""
        from broker.auth.local import load_signing_key

        token = forge(load_signing_key(tmp_path), claims(org="org-1"), kid=authority.kid)
        assert authority.verify_token(token) == Principal("staff-1", "engineer", None)

    def test_unknown_kid(self, authority, tmp_path):
        """A kid not in the JWKS is refused."""
        from broker.auth.local import load_signing_key

        token = forge(load_signing_key(tmp_path), claims(), kid="someone-else")
        with pytest.raises(AuthenticationError):
            authority.verify_token(token)

    def test_alg_none_and_hmac_are_refused(self, authority):
        """Unsigned and shared-secret tokens never pass."""
        unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": authority.kid})
        hmac = forge("k" * 32, claims(), kid=authority.kid, alg="HS256")
        for token in (unsigned, hmac):
            with pytest.raises(AuthenticationError):
                authority.verify_token(token)

    def test_reason_never_echoes_the_token(self, authority, tmp_path):
        """Error reasons and causes carry nothing from the token."""
        from broker.auth.local import load_signing_key

        marker = "secret-subject-marker"
        token = forge(load_signing_key(tmp_path), claims(sub=marker, aud="x"), kid=authority.kid)
        with pytest.raises(AuthenticationError) as caught:
            authority.verify_token(token)
        assert marker not in str(caught.value.to_dict())
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__

    def test_non_canonical_signature_encoding_fails(self, authority):
        """A last character differing only in spare bits (same bytes) is still refused."""
        import base64

        token = authority.mint_token("staff-1", "ops")
        head, _, signature = token.rpartition(".")
        spare = B64URL[B64URL.index(signature[-1]) ^ 1]
        twin = signature[:-1] + spare

        def raw(s):
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        assert raw(twin) == raw(signature)
        with pytest.raises(AuthenticationError):
            authority.verify_token(f"{head}.{twin}")

    @settings(
        max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(data=st.data())
    def test_any_mutated_token_fails(self, authority, data):
        """Replacing, inserting or deleting any one character invalidates the token."""
        token = authority.mint_token("staff-1", "customer_admin", org="org-1")
        position = data.draw(st.integers(0, len(token) - 1))
        edit = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        char = data.draw(st.sampled_from(B64URL + ".=+/ "))
        mutated = {
            "replace": token[:position] + char + token[position + 1 :],
            "insert": token[:position] + char + token[position:],
            "delete": token[:position] + token[position + 1 :],
        }[edit]
        if mutated == token:
            return
        with pytest.raises(AuthenticationError):
            authority.verify_token(mutated)


HOUR = 3600


class TestSubject:
    """A token's sub must be an identifier (validate.IDENTIFIER), never PI."""

    @pytest.mark.parametrize(
        "sub",
        ["eng-de-1", "00u1abcdEF23", "auth0:5f3c2a", "110169484474386276334", "ops_1.x",
         "3f0c8a52-1b2c-4d5e-8f90-123456789abc"],
    )  # fmt: skip
    def test_identifiers_pass(self, authority, tmp_path, sub):
        """Opaque ids of the usual identity providers are accepted as they are."""
        from broker.auth.local import load_signing_key

        token = forge(load_signing_key(tmp_path), claims(sub=sub), kid=authority.kid)
        assert authority.verify_token(token).subject == sub

    @pytest.mark.parametrize(
        "sub",
        ["Anna Müller", "anna müller", "anna.mueller@example.com", "+49 30 1234567",
         "004930123456789", "0301234567", "a/b", "x" * 129, "tab\there", "Zoë"],
    )  # fmt: skip
    def test_non_identifiers_are_refused(self, authority, tmp_path, sub):
        """Names, emails, phone numbers and odd characters: token_subject_invalid, no echo."""
        from broker.auth.local import load_signing_key

        token = forge(load_signing_key(tmp_path), claims(sub=sub), kid=authority.kid)
        with pytest.raises(AuthenticationError) as caught:
            authority.verify_token(token)
        assert caught.value.code == "token_subject_invalid"
        assert sub not in str(caught.value.to_dict())

    @pytest.mark.parametrize("sub", ["Anna Müller", "0301234567"])
    def test_minting_refuses_them_too(self, authority, sub):
        """The local authority will not mint a token for a non-identifier."""
        with pytest.raises(InputError) as caught:
            authority.mint_token(sub, "ops")
        assert caught.value.field == "subject"


class TestTokenLifetime:
    """A token that lives longer than the maximum (12 h unless configured) is refused."""

    @pytest.mark.parametrize(
        ("iat", "exp", "accepted"),
        [
            (0, 12 * HOUR, True),
            (-HOUR, 11 * HOUR, True),
            (0, 12 * HOUR + 1, False),
            (-13 * HOUR, HOUR, False),
            (-10 * 365 * 24 * HOUR, 10 * 365 * 24 * HOUR, False),
            (-(2**31), 2**31, False),
        ],
        ids=repr,
    )
    def test_lifetime_table(self, authority, tmp_path, iat, exp, accepted):
        """exp - iat over the maximum is refused as token_lifetime; within it passes."""
        from broker.auth.local import load_signing_key

        now = int(NOW.timestamp())
        body = claims(iat=now + iat, exp=now + exp)
        token = forge(load_signing_key(tmp_path), body, kid=authority.kid)
        if accepted:
            assert authority.verify_token(token).subject == "staff-1"
            return
        with pytest.raises(AuthenticationError) as caught:
            authority.verify_token(token)
        assert caught.value.code == "token_lifetime"

    def test_exp_too_far_ahead_with_future_iat(self, authority, tmp_path):
        """An exp further from now than the maximum is refused even if exp - iat is short."""
        from broker.auth.local import load_signing_key

        now = int(NOW.timestamp())
        body = claims(iat=now + 20 * HOUR, exp=now + 21 * HOUR)
        token = forge(load_signing_key(tmp_path), body, kid=authority.kid)
        with pytest.raises(AuthenticationError) as caught:
            authority.verify_token(token)
        assert caught.value.code == "token_lifetime"

    def test_configured_maximum(self, tmp_path, clock):
        """auth.max_token_lifetime_seconds bounds both minting and verifying."""
        from broker.config import AuthConfig, Config
        from broker.runtime.parts import token_verifier

        config = Config(state_dir=tmp_path, auth=AuthConfig(max_token_lifetime_seconds=HOUR))
        verifier = token_verifier(config, clock)
        assert isinstance(verifier, LocalAuthority)
        with pytest.raises(InputError):
            verifier.mint_token("s-1", "ops", ttl=timedelta(hours=2))
        long_lived = LocalAuthority.from_state(tmp_path, clock=clock).mint_token(
            "s-1", "ops", ttl=timedelta(hours=2)
        )
        with pytest.raises(AuthenticationError) as caught:
            verifier.verify_token(long_lived)
        assert caught.value.code == "token_lifetime"
        assert verifier.verify_token(verifier.mint_token("s-1", "ops")).role == "ops"

    def test_default_is_twelve_hours(self):
        """The default maximum is 12 hours."""
        from broker.config import AuthConfig

        assert AuthConfig().max_token_lifetime_seconds == 12 * HOUR

    @pytest.mark.parametrize("seconds", [0, -1])
    def test_maximum_must_be_positive(self, tmp_path, clock, seconds):
        """A non-positive maximum is a configuration error naming the setting."""
        with pytest.raises(InputError) as caught:
            build_verifier(tmp_path, clock=clock, max_lifetime=timedelta(seconds=seconds))
        assert caught.value.field == "auth.max_token_lifetime_seconds"


class TestJwksVerifier:
    """Configured issuer: tokens checked against its JWKS (document or file)."""

    @pytest.fixture
    def issuer_key(self):
        return ec.generate_private_key(ec.SECP256R1())

    @pytest.fixture
    def jwks(self, issuer_key):
        jwk = ECAlgorithm.to_jwk(issuer_key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": "idp-1", "alg": "ES256", "use": "sig"}]}

    def idp_token(self, key, **changes):
        body = claims(iss="https://idp.example", **changes)
        return forge(key, body, kid="idp-1", alg="ES256")

    def test_accepts_issuer_tokens(self, jwks, issuer_key, clock):
        """A token of the configured issuer verifies."""
        verifier = JwksVerifier(jwks, issuer="https://idp.example", clock=clock)
        token = self.idp_token(issuer_key, role="customer_admin", org="org-9")
        assert verifier.verify_token(token) == Principal("staff-1", "customer_admin", "org-9")

    def test_rejects_local_tokens(self, jwks, authority, clock):
        """The local authority's tokens mean nothing to a configured issuer."""
        verifier = JwksVerifier(jwks, issuer="https://idp.example", clock=clock)
        with pytest.raises(AuthenticationError):
            verifier.verify_token(authority.mint_token("s", "admin"))

    def test_rejects_alg_switch(self, jwks, issuer_key, clock):
        """A token claiming another algorithm than the key's is refused."""
        verifier = JwksVerifier(jwks, issuer="https://idp.example", clock=clock)
        other = ed25519.Ed25519PrivateKey.generate()
        token = forge(other, claims(iss="https://idp.example"), kid="idp-1")
        with pytest.raises(AuthenticationError):
            verifier.verify_token(token)

    def test_expiry_uses_the_clock(self, jwks, issuer_key, clock):
        """Expiry follows the injected clock."""
        verifier = JwksVerifier(jwks, issuer="https://idp.example", clock=clock)
        token = self.idp_token(issuer_key)
        clock.advance(3600)
        with pytest.raises(AuthenticationError) as caught:
            verifier.verify_token(token)
        assert caught.value.code == "token_expired"

    def test_build_verifier_from_file(self, tmp_path, jwks, issuer_key, clock):
        """build_verifier with issuer and a JWKS file path verifies that issuer."""
        path = tmp_path / "jwks.json"
        path.write_text(json.dumps(jwks))
        verifier = build_verifier(tmp_path, clock=clock, issuer="https://idp.example", jwks=path)
        assert verifier.verify_token(self.idp_token(issuer_key)).subject == "staff-1"
        assert not (tmp_path / SIGNING_KEY_FILE).exists()

    def test_build_verifier_local_by_default(self, tmp_path, clock):
        """Without issuer and JWKS, build_verifier is the local authority."""
        verifier = build_verifier(tmp_path, clock=clock)
        assert isinstance(verifier, LocalAuthority)

    @pytest.mark.parametrize(
        ("issuer", "field"), [("https://idp.example", "jwks"), (None, "issuer")]
    )
    def test_build_verifier_needs_both(self, tmp_path, clock, jwks, issuer, field):
        """Issuer without JWKS (or the reverse) is a configuration error."""
        with pytest.raises(InputError) as caught:
            build_verifier(tmp_path, clock=clock, issuer=issuer, jwks=None if issuer else jwks)
        assert caught.value.field == field

    @pytest.mark.parametrize(
        "source",
        [
            "{not json",
            "/nonexistent/jwks.json",
            '{"keys": []}',
            '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}',
            "[1, 2]",
        ],
    )
    def test_bad_jwks_is_refused(self, clock, source):
        """Unreadable, empty or symmetric-only key sets are InputErrors naming jwks."""
        with pytest.raises(InputError) as caught:
            JwksVerifier(load_jwks(source), issuer="https://idp.example", clock=clock)
        assert caught.value.field == "jwks"
