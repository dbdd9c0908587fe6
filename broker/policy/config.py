"""The access policy's configuration: country sets, region table, lifetimes, holidays.

``PolicyConfig`` is frozen data. On construction it precomputes the lookup
tables ``decide()`` needs, so a decision costs a few dict lookups.
``PolicyConfig.from_mapping`` builds one from a JSON/TOML section, starting from
the defaults; every unknown key or malformed value is an ``InputError`` that
names the field (never its value).

Keys of ``from_mapping``:

- ``eea``, ``adequacy``, ``scc``, ``consent``: lists of country codes replacing a set;
- ``extend_eea``, ``extend_adequacy``, ``extend_scc``, ``extend_consent``: codes added;
- ``regions``: ``{region: country}`` entries added to (or replacing in) the region table;
- ``max_ttl_seconds`` (default 3600), ``default_ttl_seconds`` (default 900);
- ``holidays``: ``YYYY-MM-DD`` dates (Europe/Berlin calendar) when the support window is shut.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from broker.errors import InputError
from broker.policy.countries import ADEQUACY, CONSENT, EEA, ISO_3166_ALPHA2, SCC
from broker.policy.regions import REGIONS
from broker.policy.routing import Route, country_routes
from broker.state import is_region
from broker.typing import CountryCode, Region

MAX_TTL_CEILING = 86_400
"""No configuration may grant sessions longer than a day: certificates stay short-lived."""

_COUNTRY = re.compile(r"[A-Z]{2}")
_SETS = ("eea", "adequacy", "scc", "consent")
_INTS = ("max_ttl_seconds", "default_ttl_seconds")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Everything the access policy and support windows may be configured with."""

    eea: frozenset[CountryCode] = EEA.members
    adequacy: frozenset[CountryCode] = ADEQUACY.members
    scc: frozenset[CountryCode] = SCC.members
    consent: frozenset[CountryCode] = CONSENT.members
    regions: Mapping[Region, CountryCode] = field(default_factory=lambda: REGIONS)
    max_ttl_seconds: int = 3600
    default_ttl_seconds: int = 900
    holidays: frozenset[date] = frozenset()
    region_eea: Mapping[str, bool] = field(init=False, repr=False, compare=False)
    standard_routes: Mapping[str, Route] = field(init=False, repr=False, compare=False)
    eea_only_routes: Mapping[str, Route] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Validate lifetimes and precompute the lookup tables."""
        _check_ttls(self.max_ttl_seconds, self.default_ttl_seconds)
        known = ISO_3166_ALPHA2 | self.eea | self.adequacy | self.scc | self.consent
        standard, eea_only = country_routes(known, self.eea, self.adequacy, self.scc, self.consent)
        region_eea = {r: c in self.eea for r, c in self.regions.items()}
        object.__setattr__(self, "region_eea", MappingProxyType(region_eea))
        object.__setattr__(self, "standard_routes", standard)
        object.__setattr__(self, "eea_only_routes", eea_only)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PolicyConfig:
        """A config from the defaults plus ``data``'s overrides (see module docstring)."""
        if not isinstance(data, Mapping):
            raise InputError("policy", "must be a mapping")
        values: dict[str, Any] = {}
        for key, value in data.items():
            values.update(_parse_key(str(key), value, values))
        return cls(**values)


def _parse_key(key: str, value: Any, so_far: Mapping[str, Any]) -> dict[str, Any]:
    """One override key -> the constructor arguments it sets."""
    if key in _SETS:
        return {key: _countries(key, value)}
    if key.startswith("extend_") and key[7:] in _SETS:
        name = key[7:]
        base: frozenset[CountryCode] = so_far.get(name, _DEFAULT_SETS[name])
        return {name: base | _countries(key, value)}
    if key in _INTS:
        return {key: _int(key, value)}
    if key == "regions":
        return {"regions": MappingProxyType({**REGIONS, **_regions(key, value)})}
    if key == "holidays":
        return {"holidays": _dates(key, value)}
    raise InputError(key, "is not a policy setting", code="unknown_field")


_DEFAULT_SETS: dict[str, frozenset[CountryCode]] = {
    "eea": EEA.members,
    "adequacy": ADEQUACY.members,
    "scc": SCC.members,
    "consent": CONSENT.members,
}


def _list(name: str, value: Any) -> list[Any]:
    """A JSON array, or an error naming the field."""
    if not isinstance(value, list | tuple):
        raise InputError(name, "must be a list")
    return list(value)


def _countries(name: str, value: Any) -> frozenset[CountryCode]:
    """A list of ISO 3166 alpha-2 codes (upper case)."""
    codes = set()
    for index, item in enumerate(_list(name, value)):
        if not isinstance(item, str) or not _COUNTRY.fullmatch(item):
            raise InputError(f"{name}[{index}]", "must be a two-letter upper-case country code")
        codes.add(CountryCode(item))
    return frozenset(codes)


def _regions(name: str, value: Any) -> dict[Region, CountryCode]:
    """A ``{region: country}`` mapping with well-formed codes on both sides."""
    if not isinstance(value, Mapping):
        raise InputError(name, "must be a mapping of region code to country code")
    table: dict[Region, CountryCode] = {}
    for region, country in value.items():
        if not is_region(region):
            raise InputError(name, "has a key that is not an AWS region code")
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            raise InputError(f"{name}.{region}", "must be a two-letter upper-case country code")
        table[Region(region)] = CountryCode(country)
    return table


def _int(name: str, value: Any) -> int:
    """A positive whole number of seconds (``bool`` is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, "must be an integer number of seconds")
    return value


def _dates(name: str, value: Any) -> frozenset[date]:
    """A list of ``YYYY-MM-DD`` calendar dates."""
    return frozenset(_date(f"{name}[{i}]", item) for i, item in enumerate(_list(name, value)))


def _date(name: str, item: Any) -> date:
    """One ``YYYY-MM-DD`` date, or an error naming the field."""
    if isinstance(item, str):
        try:
            return date.fromisoformat(item)
        except ValueError:
            pass
    raise InputError(name, "must be a date written YYYY-MM-DD")


def _check_ttls(max_ttl: int, default_ttl: int) -> None:
    """Both lifetimes positive, default within max, max within a day."""
    if not 1 <= max_ttl <= MAX_TTL_CEILING:
        raise InputError("max_ttl_seconds", f"must be between 1 and {MAX_TTL_CEILING}")
    if not 1 <= default_ttl <= max_ttl:
        raise InputError("default_ttl_seconds", "must be between 1 and max_ttl_seconds")


DEFAULT = PolicyConfig()
"""The policy as docs/design.md states it, with no overrides."""
