"""The webhook signature scheme: what a receiver checks."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.errors import AuthenticationError
from broker.notify.signature import REPLAY_WINDOW_SECONDS, sign, verify

SECRET = b"k" * 32
NOW = 1_764_849_600


class TestSign:
    """The header is ``t=<unix>,v1=<hex HMAC-SHA256 of "t." + body>``."""

    def test_the_scheme_as_documented(self):
        """Recomputed by hand, as a receiver in any language would."""
        body = b'{"type":"consent.requested"}'
        expected = hmac.new(SECRET, b"1764849600." + body, hashlib.sha256).hexdigest()
        assert sign(SECRET, NOW, body) == f"t=1764849600,v1={expected}"


class TestVerify:
    """``verify`` accepts exactly the signed body, from the right secret, in the window."""

    @given(body=st.binary(max_size=512))
    def test_any_signed_body_verifies(self, body):
        """Whatever the bytes, the signature made for them verifies."""
        assert verify(SECRET, sign(SECRET, NOW, body), body, NOW) == NOW

    @given(body=st.binary(min_size=1, max_size=256), data=st.data())
    def test_any_changed_byte_fails(self, body, data):
        """Flipping any bit of any byte of the body makes it fail."""
        index = data.draw(st.integers(0, len(body) - 1))
        bit = data.draw(st.integers(0, 7))
        tampered = bytearray(body)
        tampered[index] ^= 1 << bit
        with pytest.raises(AuthenticationError) as caught:
            verify(SECRET, sign(SECRET, NOW, body), bytes(tampered), NOW)
        assert caught.value.code == "signature_invalid"

    def test_another_secret_fails(self):
        """Another org's secret does not verify this org's body."""
        with pytest.raises(AuthenticationError, match="no signature matches"):
            verify(b"o" * 32, sign(SECRET, NOW, b"{}"), b"{}", NOW)

    def test_a_changed_timestamp_fails(self):
        """``t`` is inside the MAC: replaying with a fresh ``t`` does not verify."""
        mac = sign(SECRET, NOW, b"{}").split(",")[1]
        with pytest.raises(AuthenticationError, match="no signature matches"):
            verify(SECRET, f"t={NOW + 100},{mac}", b"{}", NOW + 100)

    @pytest.mark.parametrize("skew", [REPLAY_WINDOW_SECONDS + 1, -REPLAY_WINDOW_SECONDS - 1])
    def test_outside_the_replay_window_fails(self, skew):
        """A signature older (or newer) than the window is refused even if it matches."""
        with pytest.raises(AuthenticationError) as caught:
            verify(SECRET, sign(SECRET, NOW, b"{}"), b"{}", NOW + skew)
        assert caught.value.code == "signature_stale"

    def test_the_window_edge_is_accepted(self):
        """Exactly the window's age still verifies (the bound is inclusive)."""
        assert verify(SECRET, sign(SECRET, NOW, b"{}"), b"{}", NOW + REPLAY_WINDOW_SECONDS)

    def test_a_rotated_secret_needs_one_match(self):
        """Two ``v1`` entries (old and new secret): one match is enough."""
        old = sign(b"o" * 32, NOW, b"{}").split(",")[1]
        assert verify(SECRET, f"{sign(SECRET, NOW, b'{}')},{old}", b"{}", NOW)

    @pytest.mark.parametrize(
        "header", ["", "v1=abc", f"t={NOW}", "t=-5,v1=00", "t=١٢,v1=00", "garbage"]
    )
    def test_a_malformed_header_is_refused(self, header):
        """No ``t`` (ASCII digits) or no ``v1``: refused as malformed, never as valid."""
        with pytest.raises(AuthenticationError) as caught:
            verify(SECRET, header, b"{}", NOW)
        assert caught.value.code == "signature_malformed"


class TestTheDocumentedReceiver:
    """The receiver code in docs/notifications.md accepts the broker's signatures, and only them."""

    @staticmethod
    def documented():
        """The Python block of docs/notifications.md that defines ``verify_broker_signature``."""
        text = (Path(__file__).parents[2] / "docs" / "notifications.md").read_text()
        [block] = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify" in b]
        namespace: dict = {}
        exec(compile(block, "notifications.md", "exec"), namespace)
        return namespace["verify_broker_signature"]

    def test_it_accepts_a_fresh_signature_and_refuses_a_tampered_body(self):
        """A body the broker signed now verifies; the same header over other bytes does not."""
        check = self.documented()
        body = b'{"type":"consent.requested","ticket":"T-1001"}'
        header = sign(SECRET, int(time.time()), body)
        assert check(SECRET, header, body) is True
        assert check(SECRET, header, body.replace(b"1001", b"1002")) is False
        assert check(b"o" * 32, header, body) is False

    def test_it_refuses_an_old_signature(self):
        """A correct signature from an hour ago is outside the window."""
        body = b"{}"
        assert self.documented()(SECRET, sign(SECRET, int(time.time()) - 3600, body), body) is False
