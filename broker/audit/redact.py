"""Pseudonymise phone numbers and email addresses in any string, per region.

A phone number becomes ``tel:<16 hex>`` and an email ``email:<16 hex>``: a
truncated HMAC-SHA256 under a key derived from the region's secret. Equal
numbers (in any format) link within a region; without the key nobody can
brute-force the small space of phone numbers back out of a pseudonym.

Phone numbers are found by ``phonenumbers.PhoneNumberMatcher`` (leniency
VALID) once per served phone region, so national formats of every region we
serve are caught as well as E.164. Matching is the expensive part (hundreds of
microseconds a pass), so strings go through cheap checks first:

1. a per-region cache of already scrubbed strings;
2. no digit at all -> nothing to find;
3. UUIDs, IP addresses, ISO and European dates, long bare digit strings
   (serials) and existing pseudonyms are masked (they are kept verbatim and
   never fed to the matcher);
4. a region's matcher pass only runs if some run of digits and phone
   punctuation in what is left holds at least as many digits as the shortest
   valid number of that region (the first pass, which also finds +<country>
   numbers, as many as the shortest number anywhere). This mirrors the
   matcher's own candidate pattern, so it only skips passes that would find
   nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import phonenumbers
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher

# The matcher's own separator set: keeps the pre-check in step with the library.
from phonenumbers.phonenumberutil import _VALID_PUNCTUATION

from broker.audit.keys import SecretSource, derive_key
from broker.state import check_region

PHONE_REGIONS: tuple[str, ...] = (
    "DE", "FR", "IE", "SE", "IT", "ES", "GB", "CH", "US", "IN", "PH", "NL", "AT", "PL", "NO",
)  # fmt: skip
"""Regions whose national formats are recognised, in order of preference.

Norway (EEA) came last, so adding it changed no earlier attribution. A
national number written as four dot-separated groups can also be an IPv4
address (Norway's ``21.23.45.67``); IP addresses are kept, so such a string is.

An ambiguous national number (valid in several of them) is attributed to the
first; E.164 and international forms are unambiguous."""

PSEUDONYM_HEX = 16
_MAX_TOKENS = 7  # space-separated groups in one written number (+33 1 23 45 67 89: 6)
_CACHE_MAX_LEN = 2048

# Whole strings the protected spans below would keep verbatim anyway: a canonical
# UUID or an audit timestamp. Every session id and expiry is new, so skipping
# the pipeline (and the cache) for them saves the most frequent misses.
_VERBATIM = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T\d\d:\d\d:\d\d\.\d{6}Z"
)
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@(?:[\w-]+\.)+[\w-]+")
_DIGIT = re.compile(r"\d")
_TOKEN = re.compile(r"\S+")
_SPACE = re.compile(r"\s")
_RUN = re.compile(rf"\d(?:[{_VALID_PUNCTUATION}]{{0,4}}\d)*")
_PLUS_RUN = re.compile(rf"[+\uff0b]?\d(?:[{_VALID_PUNCTUATION}]{{0,4}}\d)*")
_PLUS_NUMBER = re.compile(rf"[+\uff0b]\d(?:[{_VALID_PUNCTUATION}]{{0,4}}\d)*")
# Our own pseudonyms are kept wherever they stand, even glued to text (``Teltel:...``).
_PSEUDONYM = re.compile(rf"(?:tel|email):[0-9a-f]{{{PSEUDONYM_HEX}}}(?![0-9a-f])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_PROTECTED = re.compile(
    r"(?<![0-9A-Za-z+.])(?:"
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:[T ]\d\d:\d\d(?::\d\d(?:[.,]\d{1,9})?)?(?:Z|[+-]\d\d:?\d\d)?)?"
    r"|\d{4}/(?:0[1-9]|1[0-2])/(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[./](?:0?[1-9]|1[0-2])[./]\d{4}"
    rf"|{_IPV4}"
    # 16+ bare digits exceed E.164 (15) unless written with an IDD "00": serials
    r"|(?:[1-9]\d|0[1-9])\d{14,}|\d{18,}"
    rf"|(?P<v6>(?:[0-9A-Fa-f]{{0,4}}:){{2,7}}(?:{_IPV4}|[0-9A-Fa-f]{{0,4}}))(?:%[\w.-]+)?"
    r")(?![0-9A-Za-z]|[.-]\d)"
)


def _min_valid_length(region: str) -> int:
    """The fewest digits a valid number of ``region`` can have."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        raise ValueError(f"unknown phone region {region}")
    return min(metadata.general_desc.possible_length)


# Any pass also finds +<country> numbers of every country, the shortest of which
# are this long: the first pass runs whenever a run could hold one of them.
_WORLD_MIN = min(_min_valid_length(r) for r in phonenumbers.SUPPORTED_REGIONS) + 1


def _protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of identifiers kept verbatim (an IPv6 candidate must really parse)."""
    spans = [match.span() for match in _PSEUDONYM.finditer(text)]
    for match in _PROTECTED.finditer(text):
        v6 = match.group("v6")
        if v6 is not None and not _is_ipv6(v6):
            continue
        spans.append(match.span())
    return spans


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _longest_run(masked: str) -> int:
    """Most digits in one run of digits and phone punctuation (the matcher's candidates)."""
    longest = 0
    for run in _RUN.finditer(masked):
        found = run.group()
        if len(found) > longest:
            longest = max(longest, len(_DIGIT.findall(found)))
    return longest


def _mask(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with ``spans`` overwritten by '|': same offsets, no digits, no separators.

    Spans may come in any order and overlap (every region's pass finds an
    E.164 number again): each character is masked once, so offsets hold."""
    if not spans:
        return text
    parts, last = [], 0
    for span_start, end in sorted(spans):
        start = max(span_start, last)
        if end > start:
            parts += [text[last:start], "|" * (end - start)]
            last = end
    parts.append(text[last:])
    return "".join(parts)


def _unglue(masked: str) -> str:
    """``masked`` with the Latin letters touching a ``+<digits>`` run read as spaces.

    The matcher (leniency VALID) skips a number glued to letters. That is right
    for ``abc8005001234`` (likely an id), but a leading ``+`` marks a number
    whatever touches it: ``Tel+4930123450`` or ``call+4930123450now``. Same
    length, so offsets hold."""
    if "+" not in masked and "\uff0b" not in masked:
        return masked
    chars: list[str] | None = None
    for run in _PLUS_NUMBER.finditer(masked):
        for at in (run.start() - 1, run.end()):
            if 0 <= at < len(masked) and masked[at].isascii() and masked[at].isalpha():
                chars = chars or list(masked)
                chars[at] = " "
    return masked if chars is None else "".join(chars)


def _merge(found: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Union overlapping matches; the earliest (then first region's) number names them."""
    found.sort(key=lambda item: item[0])
    merged: list[tuple[int, int, str]] = []
    for start, end, number in found:
        if merged and start < merged[-1][1]:
            first_start, first_end, first_number = merged[-1]
            merged[-1] = (first_start, max(first_end, end), first_number)
        else:
            merged.append((start, end, number))
    return merged


class RegionRedactor:
    """Scrubs strings with one region's key; caches what it has seen."""

    def __init__(
        self, key: bytes, phone_regions: Sequence[str] = PHONE_REGIONS, cache_size: int = 65536
    ) -> None:
        self._key = derive_key(key, "pseudonym")
        if not phone_regions:
            raise ValueError("at least one phone region is needed")
        # region -> digits needed in one run before its (costly) pass is worth running
        self._passes = {r: _min_valid_length(r) for r in phone_regions}
        self._passes[phone_regions[0]] = min(self._passes[phone_regions[0]], _WORLD_MIN)
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def pseudonym(self, kind: str, canonical: str) -> str:
        """``<kind>:<truncated HMAC>`` of an already canonical value."""
        mac = hmac.new(self._key, f"{kind}:{canonical}".encode(), hashlib.sha256)
        return f"{kind}:{mac.hexdigest()[:PSEUDONYM_HEX]}"

    def text(self, text: str) -> str:
        """``text`` with every phone number and email address pseudonymised."""
        done = self._cache.get(text)
        if done is None:
            if _VERBATIM.fullmatch(text):
                return text
            done = self._scrub(text)
            if len(text) <= _CACHE_MAX_LEN:
                if len(self._cache) >= self._cache_size:
                    self._cache.clear()  # crude, but bounded and O(1) per call
                self._cache[text] = done
        return done

    def value(self, value: Any) -> Any:
        """Scrub every string in a JSON-like value (keys too); other scalars pass."""
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {self.value(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        return self.text(str(value))

    def _scrub(self, text: str) -> str:
        if "@" in text:
            text = _EMAIL.sub(self._email, text)
        if _DIGIT.search(text) is None:
            return text
        masked = _unglue(_mask(text, _protected_spans(text)))
        longest = _longest_run(masked)
        regions = [r for r, needed in self._passes.items() if longest >= needed]
        return self._replace_phones(text, masked, regions) if regions else text

    def _email(self, match: re.Match[str]) -> str:
        return self.pseudonym("email", match.group().lower())

    def _replace_phones(self, text: str, masked: str, regions: Sequence[str]) -> str:
        found = [
            (m.start, m.end, phonenumbers.format_number(m.number, PhoneNumberFormat.E164))
            for region in regions
            for m in PhoneNumberMatcher(masked, region, leniency=Leniency.VALID)
        ]
        found += self._split_runs(masked, _mask(masked, [(start, end) for start, end, _ in found]))
        if not found:
            return text
        parts, last = [], 0
        for start, end, number in _merge(found):
            parts += [text[last:start], self.pseudonym("tel", number)]
            last = end
        parts.append(text[last:])
        return "".join(parts)

    def _split_runs(self, masked: str, leftover: str) -> list[tuple[int, int, str]]:
        """Numbers the matcher misses in ``leftover`` (``masked`` less what it found).

        The matcher takes ``+49 30 123450 030 123450`` as one candidate, finds it
        too long, and retries only some of its parts, keeping the first valid
        one. So each leftover run of several tokens, or a lone token cut out of
        such a candidate, is segmented here into windows of up to
        ``_MAX_TOKENS`` tokens that are each one whole number: first the longest
        windows grouped exactly as the number's own format groups it (how
        programs and careful people write numbers), then, in what is left, the
        shortest windows that are valid at all (numbering plans of variable
        length make longer windows swallow the next number), and a token no
        window takes, alone."""
        spaced = [run.span() for run in _PLUS_RUN.finditer(masked) if _SPACE.search(run.group())]
        found: list[tuple[int, int, str]] = []
        for run in _PLUS_RUN.finditer(leftover):
            base = run.start()
            tokens = [(base + t.start(), base + t.end()) for t in _TOKEN.finditer(run.group())]
            if len(tokens) == 1 and not any(s <= base < e for s, e in spaced):
                continue  # a candidate of its own: the matcher has read it already
            if _longest_run(run.group()) >= min(self._passes.values()):
                found += self._segment_run(leftover, tokens)
        return found

    def _segment_run(
        self, leftover: str, tokens: list[tuple[int, int]]
    ) -> list[tuple[int, int, str]]:
        """Whole numbers in one run's ``tokens``: exactly grouped first, then any valid."""
        exact = self._segment(leftover, tokens, Leniency.EXACT_GROUPING, longest=True)
        found = list(exact)
        for gap in _gaps(tokens, exact):
            found += self._segment(leftover, gap, Leniency.VALID, longest=False)
        return found

    def _segment(
        self, masked: str, tokens: list[tuple[int, int]], leniency: int, *, longest: bool
    ) -> list[tuple[int, int, str]]:
        found, i = [], 0
        while i < len(tokens):
            last = min(len(tokens), i + _MAX_TOKENS)
            # A lone token is tried last: the matcher can miss one inside a longer
            # candidate it gave up on, and trying it last changes no other window.
            ends = range(last, i + 1, -1) if longest else [*range(i + 2, last + 1), i + 1]
            for j in ends:
                start = tokens[i][0]
                number = self._whole_number(masked[start : tokens[j - 1][1]], leniency)
                if number is not None:
                    found.append((start + number[0], start + number[1], number[2]))
                    i = j
                    break
            else:
                i += 1
        return found

    def _whole_number(self, window: str, leniency: int) -> tuple[int, int, str] | None:
        """Span and E.164 of the one number holding every digit of ``window``, if a
        served region's matcher reads one (the punctuation around it may stay, as
        the ``)`` of ``+49 30 123450)`` does)."""
        digits = _longest_run(window)
        for region, needed in self._passes.items():
            if digits < needed:
                continue
            for m in PhoneNumberMatcher(window, region, leniency=leniency):
                if _DIGIT.search(window, 0, m.start) or _DIGIT.search(window, m.end):
                    continue
                return m.start, m.end, phonenumbers.format_number(m.number, PhoneNumberFormat.E164)
        return None


def _gaps(
    tokens: list[tuple[int, int]], found: list[tuple[int, int, str]]
) -> list[list[tuple[int, int]]]:
    """The stretches of ``tokens`` no found number overlaps (a number may leave
    a token's bracket out, so overlap, not the token's start, decides)."""
    gaps: list[list[tuple[int, int]]] = [[]]
    for first, end in tokens:
        if any(start < end and first < stop for start, stop, _ in found):
            gaps.append([])
        else:
            gaps[-1].append((first, end))
    return [gap for gap in gaps if gap]


class Redactor:
    """Region-keyed scrubbing for the whole product: audit, logs, API bodies, headers."""

    def __init__(
        self, secrets_source: SecretSource, phone_regions: Sequence[str] = PHONE_REGIONS
    ) -> None:
        self._secrets = secrets_source
        self._regions = tuple(phone_regions)
        self._by_region: dict[str, RegionRedactor] = {}
        self._ephemeral: RegionRedactor | None = None

    def region(self, region: str) -> RegionRedactor:
        """The scrubber keyed for ``region`` (its secret is fetched once)."""
        found = self._by_region.get(region)
        if found is None:
            key = self._secrets.secret(check_region(region))
            found = self._by_region[region] = RegionRedactor(key, self._regions)
        return found

    def ephemeral(self) -> RegionRedactor:
        """A scrubber under a random per-process key, for text with no region.

        Its pseudonyms link only within this process: enough for log lines, and
        nothing persistent depends on it."""
        if self._ephemeral is None:
            self._ephemeral = RegionRedactor(secrets.token_bytes(32), self._regions)
        return self._ephemeral

    def text(self, region: str, text: str) -> str:
        """Scrub one string with ``region``'s key."""
        return self.region(region).text(text)

    def value(self, region: str, value: Any) -> Any:
        """Scrub a JSON-like value with ``region``'s key."""
        return self.region(region).value(value)


_DETECTOR: list[RegionRedactor] = []


def holds_personal_data(text: str) -> bool:
    """Whether ``text`` holds a phone number or email address the redactor would hide.

    Input validation asks this of every identifier, so an id can never carry
    personal data into the store, a certificate or an audit record raw. The
    detector's key is random: only whether the text changes matters."""
    if not _DETECTOR:
        _DETECTOR.append(RegionRedactor(secrets.token_bytes(32)))
    return _DETECTOR[0].text(text) != text
