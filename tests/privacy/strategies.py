"""Hypothesis strategies for personal data: phone numbers, emails, names."""

from __future__ import annotations

from pathlib import Path

import phonenumbers
from hypothesis import strategies as st

REGIONS = ("DE", "FR", "GB", "US", "IN", "PH", "IE", "SE", "IT", "ES", "CH", "NO")
FORMATS = (
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
)


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    """A valid number of a served region, in one of its usual written forms."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    digits = draw(st.text("0123456789", min_size=2, max_size=2))
    candidate = phonenumbers.parse(f"+{example.country_code}{national[:-2]}{digits}")
    if not phonenumbers.is_valid_number(candidate):
        candidate = example
    written = phonenumbers.format_number(candidate, draw(st.sampled_from(FORMATS)))
    if draw(st.booleans()):  # also as typed without any grouping: 015123456789
        written = written[0] + "".join(c for c in written[1:] if c.isdigit())
    return written


emails = st.from_regex(r"[a-z]{3,8}\.[a-z]{3,8}@[a-z]{4,8}\.(com|de|fr)", fullmatch=True)
_word = st.from_regex(r"[A-ZÄÖÜÉÅØ][a-zäöüéèñçåøß]{2,9}", fullmatch=True)
names = st.builds(
    lambda given, second, joined, family: f"{given}{second}{joined}{family}",
    _word,
    st.sampled_from(["", "-Lena", " Maria"]),
    st.sampled_from([" ", " van ", " de la "]),
    _word,
)
"""A person's full name: given name(s), a space, family name (Latin-1, so it fits a
header). A single word that fits the id alphabet cannot be told from an id (README)."""

personal_data = st.one_of(names, emails, phone_numbers())
"""Anything the broker must never keep or log raw."""


def raw_forms(secret: str) -> set[str]:
    """The secret and the forms a leak could take: digits only, lower case."""
    digits = "".join(c for c in secret if c.isdigit())
    forms = {secret, secret.lower()}
    return forms | ({digits} if len(digits) >= 7 and "@" not in secret else set())


def raw_places(state: Path, logs: str, secret: str) -> list[str]:
    """Where a raw form of ``secret`` turns up: files under ``state``, or ``logs``."""
    places = []
    for raw in raw_forms(secret):
        needle = raw.encode()
        places += [str(p) for p in state.rglob("*") if p.is_file() and needle in p.read_bytes()]
        if raw in logs:
            places.append("logs")
    return places
