"""The shared field validators: what each field accepts, and what never gets in."""

from __future__ import annotations

import pytest

from broker import validate as v
from broker.errors import InputError

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIDrlNhXzp5C6e2zQgUC5bVnmN7YqTjG9Yb4l3tq9V4vx"


class TestIdentifier:
    """validate.identifier: the IDENTIFIER pattern, and no phone number or email."""

    @pytest.mark.parametrize("value", ["T-1001", "eng-de-1", "acme_de.x:1", "a" * 128])
    def test_accepts_ids(self, value: str) -> None:
        """Ids of the safe alphabet pass unchanged."""
        assert v.identifier(value, "id") == value

    @pytest.mark.parametrize(
        "value",
        ["Anna Müller", "a/b", "a" * 129, "", "..", "-", "anna@example.com", "+4930123456",
         "004930123456789", "0301234567", "2015550123"],
    )  # fmt: skip
    def test_refuses_non_ids_and_pi(self, value: str) -> None:
        """Spaces, slashes, overlong ids and ids that read as phone or email are refused."""
        with pytest.raises(InputError) as caught:
            v.identifier(value, "ticket_id")
        assert caught.value.field == "ticket_id"
        assert len(value) < 3 or value not in str(caught.value.to_dict())  # no echo


class TestHostname:
    """validate.hostname: a DNS name or an IP address."""

    @pytest.mark.parametrize(
        ("value", "kept"),
        [("app-1.internal", "app-1.internal"), ("127.0.0.1", "127.0.0.1"),
         ("::1", "::1"), ("localhost", "localhost"), ("a.b.c.", "a.b.c.")],
    )  # fmt: skip
    def test_accepts_hosts(self, value: str, kept: str) -> None:
        """Host names and IP literals pass."""
        assert v.hostname(value, "host") == kept

    @pytest.mark.parametrize(
        "value",
        ["Anna Müller", "anna@example.com", "-bad.example", "a..b", "x" * 254,
         "host with space", "030 1234567", "0301234567", "call-+49301234567"],
    )  # fmt: skip
    def test_refuses_free_text(self, value: str) -> None:
        """Names, emails, phone numbers and malformed names are refused, naming the field."""
        with pytest.raises(InputError) as caught:
            v.hostname(value, "targets[0].host")
        assert caught.value.field == "targets[0].host"


class TestKeyLine:
    """validate.key_line: the key's type and base64; the comment dropped."""

    def test_comment_is_dropped(self) -> None:
        """A comment (free text, often an email) never survives."""
        line = f"ssh-ed25519 {KEY} anna.mueller@laptop"
        assert v.key_line(line, "host_key") == f"ssh-ed25519 {KEY}"

    @pytest.mark.parametrize("value", ["ssh-ed25519", "Anna Müller", "ssh-ed25519 not*base64"])
    def test_refuses_non_keys(self, value: str) -> None:
        """Anything that is not a key line is refused."""
        with pytest.raises(InputError):
            v.key_line(value, "host_key")


class TestRequestId:
    """validate.request_id: a UUID or 32-64 hex digits, else None."""

    @pytest.mark.parametrize(
        "value", ["3f0c8a52-1b2c-4d5e-8f90-123456789abc", "0123456789abcdef" * 2, "A" * 64]
    )
    def test_kept(self, value: str) -> None:
        """Generated ids pass as they are."""
        assert v.request_id(value) == value

    @pytest.mark.parametrize(
        "value", [None, "", "Anna Müller", "req-1", "+49 30 1234567", "a" * 65, "abc123"]
    )
    def test_replaced(self, value: str | None) -> None:
        """Anything else is not kept (the middleware generates one)."""
        assert v.request_id(value) is None
