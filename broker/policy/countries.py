"""Country sets the access policy reasons about, as data with source and date.

Every set is a ``CountrySet``: its members (ISO 3166-1 alpha-2, upper case),
where the list comes from and when it was last checked. ``PolicyConfig`` starts
from these and lets deployments extend or override them.

The US holds an EU adequacy decision (the EU-US Data Privacy Framework, 2023),
so it is listed in ``ADEQUACY`` for the record; the policy deliberately routes
it through consent instead, because ``CONSENT`` takes precedence over adequacy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from broker.typing import CountryCode


@dataclass(frozen=True, slots=True)
class CountrySet:
    """A named set of countries with its provenance."""

    name: str
    members: frozenset[CountryCode]
    source: str
    as_of: date


def _codes(text: str) -> frozenset[CountryCode]:
    """Parse whitespace-separated codes, so the tables below stay readable."""
    return frozenset(CountryCode(code) for code in text.split())


ISO_3166_ALPHA2: frozenset[CountryCode] = _codes(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
    """
)
"""Every officially assigned ISO 3166-1 alpha-2 code (249); anything else is unknown."""

EU27: frozenset[CountryCode] = _codes(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
)
"""EU member states; Greece is ``GR`` in ISO 3166 (the EU itself writes ``EL``)."""

EEA = CountrySet(
    name="eea",
    members=EU27 | _codes("IS LI NO"),
    source="EEA Agreement (OJ L 1, 3.1.1994) parties: EU-27 plus Iceland, Liechtenstein, Norway",
    as_of=date(2026, 11, 29),
)

ADEQUACY = CountrySet(
    name="adequacy",
    members=_codes("AD AR CA CH FO GB GG IL IM JE JP KR NZ UY US"),
    source=(
        "European Commission, adequacy decisions under GDPR Art. 45 "
        "(commission.europa.eu, 'Adequacy decisions'); US via the EU-US Data "
        "Privacy Framework, which this policy routes through consent instead"
    ),
    as_of=date(2026, 11, 29),
)

SCC = CountrySet(
    name="scc",
    members=_codes("IN PH"),
    source=(
        "Company transfer register: support centres covered by the Commission's "
        "standard contractual clauses (Decision (EU) 2021/914)"
    ),
    as_of=date(2026, 11, 29),
)

CONSENT = CountrySet(
    name="consent",
    members=_codes("US"),
    source=(
        "Company policy after Schrems II (CJEU C-311/18): US staff work EEA "
        "tickets only with the customer's consent for that ticket"
    ),
    as_of=date(2026, 11, 29),
)

DEFAULT_SETS: tuple[CountrySet, ...] = (EEA, ADEQUACY, SCC, CONSENT)
"""The sets ``PolicyConfig`` starts from."""
