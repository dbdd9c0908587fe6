"""Tests for broker.audit.redact: phone and email pseudonyms, identifiers kept."""

from __future__ import annotations

import ipaddress
import re
import string
import uuid
from datetime import UTC, timedelta, timezone

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from phonenumbers import Leniency, PhoneNumber, PhoneNumberFormat, PhoneNumberType

from broker.audit.catalog import format_time
from broker.audit.keys import MemorySecretSource
from broker.audit.redact import PHONE_REGIONS, Redactor, RegionRedactor

KEY_A = b"a" * 32
KEY_B = b"b" * 32
PSEUDONYM = re.compile(r"(?:tel|email):[0-9a-f]{16}")
TYPES = [getattr(PhoneNumberType, name) for name in (
    "FIXED_LINE", "MOBILE", "TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "VOIP",
    "PERSONAL_NUMBER", "PAGER", "UAN", "VOICEMAIL",
)]  # fmt: skip
EXAMPLES = [
    (region, number)
    for region in PHONE_REGIONS
    for kind in TYPES
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
]
STYLES = ("e164", "international", "national", "rfc3966", "idd", "dashes", "dots", "bare")
SEPARATORS = [" ", ": ", " (", ") ", ", ", "\n", "\t", "=", "; ", " - ", '"', "'", "<", ">"]
FILLER = st.text(alphabet=string.ascii_letters + " ,;!?äöüßéçñ", max_size=30)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

A = RegionRedactor(KEY_A)
B = RegionRedactor(KEY_B)


def render(number: PhoneNumber, style: str) -> str:
    """The number as a person or program might write it."""
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return {
        "e164": e164,
        "international": phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        "national": national,
        "rfc3966": phonenumbers.format_number(number, PhoneNumberFormat.RFC3966),
        "idd": "00" + e164[1:],
        "dashes": national.replace(" ", "-"),
        "dots": national.replace(" ", "."),
        "bare": re.sub(r"[^\d+]", "", national),
    }[style]


@st.composite
def phone_numbers(draw: st.DrawFn) -> PhoneNumber:
    """A valid number of a served region: an example with a random tail when still valid."""
    _, example = draw(st.sampled_from(EXAMPLES))
    digits = str(example.national_number)
    cut = draw(st.integers(1, min(4, len(digits) - 1)))
    tail = draw(st.text(alphabet=string.digits, min_size=cut, max_size=cut))
    number = PhoneNumber()
    number.merge_from(example)
    number.national_number = int(digits[:-cut] + tail)
    return number if phonenumbers.is_valid_number(number) else example


def is_ipv4(text: str) -> bool:
    """Whether ``text`` is an IPv4 address (a dotted 8-digit number can be one)."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def leftover_digits(text: str) -> str:
    """The digits of ``text`` outside pseudonyms (the filler has none)."""
    return re.sub(r"\D", "", PSEUDONYM.sub(" ", text))


def first_region_reading(national: str) -> str | None:
    """E.164 of ``national`` as found by the first served region's matcher."""
    for region in PHONE_REGIONS:
        for match in phonenumbers.PhoneNumberMatcher(national, region, leniency=Leniency.VALID):
            if match.raw_string == national:
                return phonenumbers.format_number(match.number, PhoneNumberFormat.E164)
    return None


class TestPhoneNumbers:
    """Phone numbers anywhere in a string become ``tel:`` pseudonyms."""

    @pytest.mark.parametrize("style", STYLES)
    def test_every_example_number_of_every_region_is_hidden(self, style):
        """Each region's example numbers of each type, in each style, are replaced."""
        for region, number in EXAMPLES:
            raw = render(number, style)
            if is_ipv4(raw):  # Norway's 21.23.45.67: an IP address, kept as IPs are
                continue
            out = A.text(f"please call {raw} today")
            assert raw not in out, (region, raw)
            assert str(number.national_number) not in leftover_digits(out), (region, raw)
            assert "tel:" in out

    @pytest.mark.parametrize(
        ("text", "numbers"),
        [
            # Found by the property below in CI: the E.164 form, found again by every
            # region's pass, used to shift the mask, so the other two forms stayed raw.
            (" +4930123450  +49 30 123450  030 123450 ", 3),
            ("+4930123450 +49 30 123450 030 123450", 3),
            # Found in CI: the US pass took the third number out of a candidate the
            # others had given up on, leaving the 00-prefixed one a lone token.
            (" +4930123450  +4930123450  +4930123450  004930123400 -  004930123450  ", 5),
            # Found by a longer run of the property: the matcher leaves out the
            # unbalanced ")", so the window was not taken as one whole number.
            ("+49 30 123450)  030 123450", 2),
            (" +4930123450  +49 30 123450)  030 123450 ", 3),
            # A Norwegian (EEA) mobile number in its national form.
            ("call 40 61 23 00 or 406 12 345", 2),
        ],
    )
    def test_found_examples_leave_no_digit(self, text, numbers):
        """Numbers the property tests once let through now all become pseudonyms."""
        out = A.text(text)
        assert leftover_digits(out) == ""
        assert out.count("tel:") == numbers

    @SETTINGS
    @given(
        st.lists(
            st.tuples(phone_numbers(), st.sampled_from(STYLES), FILLER,
                      st.sampled_from(SEPARATORS), st.sampled_from(SEPARATORS)),
            min_size=1, max_size=8,
        )
    )  # fmt: skip
    def test_no_number_survives_in_free_text(self, parts):
        """Thousands of numbers in many formats, embedded in text: none comes out raw."""
        assume(not any(is_ipv4(render(n, s)) for n, s, *_ in parts))  # kept as IP addresses
        text = "".join(
            f"{filler}{before}{render(n, s)}{after}" for n, s, filler, before, after in parts
        )
        out = A.text(text)
        rest = leftover_digits(out)
        for number, style, *_ in parts:
            assert render(number, style) not in out
            assert str(number.national_number) not in rest

    @SETTINGS
    @given(phone_numbers(), st.sampled_from(["e164", "international", "rfc3966", "idd"]))
    def test_equal_numbers_get_equal_pseudonyms_in_any_format(self, number, style):
        """The pseudonym depends on the number, not on how it was written."""
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        assert A.pseudonym("tel", e164) in A.text(f"ring {render(number, style)} now")

    @SETTINGS
    @given(phone_numbers())
    def test_national_format_links_to_the_first_region_reading_it(self, number):
        """A national number is attributed to the first served region it is valid in."""
        national = render(number, "national")
        e164 = first_region_reading(national)
        assert e164 is not None
        assert A.text(f"ring {national} now") == f"ring {A.pseudonym('tel', e164)} now"

    @SETTINGS
    @given(phone_numbers())
    def test_regions_have_unlinkable_pseudonyms(self, number):
        """The same number gets different pseudonyms under different region keys."""
        raw = render(number, "e164")
        assert A.text(raw).startswith("tel:")
        assert A.text(raw) != B.text(raw)

    def test_pseudonym_is_a_truncated_keyed_hash(self):
        """Shape: the kind, a colon and 16 lower-case hex digits."""
        assert re.fullmatch(r"tel:[0-9a-f]{16}", A.text("+49 30 901820"))

    def test_redaction_is_idempotent(self):
        """Scrubbing scrubbed text changes nothing (pseudonyms are never re-matched)."""
        once = A.text("call +49 30 901820 or mail ops@example.com")
        assert A.text(once) == once

    @pytest.mark.parametrize(
        "text",
        ["Tel+4930123450", "call+4915123456789now", "Tel+49 30 123450x12", "x+1 202 555 0173y"],
    )
    def test_a_plus_number_glued_to_letters_is_hidden(self, text):
        """A leading ``+`` marks a number even where letters touch it (the matcher skips those)."""
        out = A.text(text)
        assert leftover_digits(out) == ""
        assert A.text(out) == out

    @pytest.mark.parametrize("text", ["abc8005001234", "TCK8005001234", "id4930123450x"])
    def test_digits_glued_to_letters_without_a_plus_are_kept(self, text):
        """Without a ``+``, digits inside a word are more likely an id than a number: kept."""
        assert A.text(text) == text

    @SETTINGS
    @given(
        phone_numbers(),
        st.text(alphabet=string.ascii_letters, min_size=1, max_size=8),
        st.text(alphabet=string.ascii_letters, max_size=8),
    )
    def test_no_e164_number_survives_glued_to_words(self, number, before, after):
        """E.164 numbers glued between words come out as pseudonyms, and scrub idempotently."""
        out = A.text(f"{before}{render(number, 'e164')}{after}")
        assert leftover_digits(out) == ""
        assert A.text(out) == out


class TestEmails:
    """Email addresses become ``email:`` pseudonyms."""

    @SETTINGS
    @given(st.lists(st.tuples(st.emails(), FILLER), min_size=1, max_size=5))
    def test_no_email_survives(self, parts):
        """Generated addresses inside text never come out raw."""
        out = A.text(" ".join(f"{filler} {email} ," for email, filler in parts))
        for email, _ in parts:
            assert email not in out
            assert A.pseudonym("email", email.lower()) in out

    def test_case_does_not_unlink(self):
        """Mail addresses differing only in case share a pseudonym."""
        assert A.text("Jane.Doe@Example.COM") == A.text("jane.doe@example.com")


IDENTIFIERS = [
    "550e8400-e29b-41d4-a716-446655440000",
    "192.168.100.200",
    "10.0.0.1:22",
    "2001:db8::1234:5678",
    "fe80::1%eth0",
    "::ffff:192.0.2.128",
    "2024-06-01T10:00:00Z",
    "2024-06-01 10:00:00.123456+00:00",
    "01.06.2024 10:00",
    "2024/06/01",
    "1718000000",
    "epoch 1718000000123",
    "SN 4711-0815-2024",
    "serial 18446744073709551615",
    "0x7ffde4a1b2c3",
    "INC0012345",
    "C02XK0JHJG5H",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "v1.2.3456789",
    "12:30:45",
    "port 49152 pid 123456",
]


class TestIdentifiersKept:
    """UUIDs, IPs, timestamps and serial numbers pass through untouched."""

    @pytest.mark.parametrize("text", IDENTIFIERS)
    def test_known_identifier_forms_are_kept(self, text):
        """Each identifier form, alone and in a sentence, is left as it is."""
        assert A.text(text) == text
        assert A.text(f"seen {text} here") == f"seen {text} here"

    @SETTINGS
    @given(
        st.uuids(),
        st.ip_addresses(),
        st.datetimes(
            timezones=st.sampled_from(
                [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
            )
        ),
    )
    def test_generated_identifiers_are_kept(self, uid, address, moment):
        """Random UUIDs, IPv4/IPv6 addresses and ISO timestamps survive verbatim."""
        text = f"session {uid} from {address} at {moment.isoformat()}"
        assert A.text(text) == text

    @SETTINGS
    @given(st.integers(10**15, 2**64), st.binary(min_size=8, max_size=20))
    def test_generated_serial_numbers_are_kept(self, decimal, blob):
        """Long decimal and hex serials (certificate serials, hashes) survive verbatim."""
        text = f"serial {decimal} fingerprint {blob.hex()}"
        assert A.text(text) == text

    @SETTINGS
    @given(st.uuids(), st.datetimes(timezones=st.just(UTC)))
    def test_whole_uuid_or_audit_time_skips_the_pipeline_safely(self, uid, moment):
        """The fast path for a bare session id or audit time gives what the full scrub gives."""
        for text in (str(uid), format_time(moment)):
            assert A.text(text) == A._scrub(text) == text

    def test_identifiers_next_to_a_number_survive_while_it_goes(self):
        """A UUID and an IP beside a phone number are kept; the number is not."""
        uid = str(uuid.uuid4())
        out = A.text(f"{uid} 10.1.2.3 +49 30 901820")
        assert out.startswith(f"{uid} 10.1.2.3 tel:")
        assert "901820" not in out


class TestValues:
    """Nested values and the region-keyed facade."""

    def test_nested_values_are_scrubbed_keys_included(self):
        """Dicts, lists and keys are walked; numbers, booleans and None pass."""
        out = A.value({"+49 30 901820": ["a@b.example", 3, None, True], "n": 2.5})
        ((key, items),) = [(k, v) for k, v in out.items() if k != "n"]
        assert key.startswith("tel:")
        assert items[0].startswith("email:")
        assert items[1:] == [3, None, True]
        assert out["n"] == 2.5

    def test_redactor_uses_each_regions_own_key(self):
        """The facade's regions differ; the same region is stable."""
        redactor = Redactor(MemorySecretSource({"eu-central-1": KEY_A, "us-east-1": KEY_B}))
        de = redactor.text("eu-central-1", "+49 30 901820")
        assert de == A.text("+49 30 901820")
        assert de != redactor.text("us-east-1", "+49 30 901820")

    def test_ephemeral_scrubber_still_scrubs(self):
        """Text with no region is scrubbed under a per-process key."""
        redactor = Redactor(MemorySecretSource({}))
        assert redactor.ephemeral().text("+49 30 901820").startswith("tel:")

    def test_unknown_phone_region_is_refused(self):
        """Configuring a region phonenumbers does not know fails at once."""
        with pytest.raises(ValueError, match="unknown phone region"):
            RegionRedactor(KEY_A, ("XX",))
