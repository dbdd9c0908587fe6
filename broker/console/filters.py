"""Reading the filter forms of the console's list pages (GET query strings).

A filter form submits every field, filled or not, so an empty value means
"any". Ids go through the same validator as the API's (an id that looks like
personal data is refused, naming the field); days come from ``<input
type="date">`` (``YYYY-MM-DD``, taken as UTC) and the "to" day is inclusive,
as a person means it: ``to=2026-11-30`` ends at the start of 1 December.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

from broker import validate as v
from broker.errors import InputError

DAY = timedelta(days=1)


def text(params: Mapping[str, str], name: str) -> str | None:
    """The stripped value, or None when absent or empty."""
    value = params.get(name, "").strip()
    return value or None


def ident(params: Mapping[str, str], name: str) -> str | None:
    """An id filter (``broker.validate.identifier``), or None."""
    value = text(params, name)
    return None if value is None else v.identifier(value, name)


def pick(params: Mapping[str, str], name: str, options: Iterable[str]) -> str | None:
    """One of ``options``, or None; anything else is an ``InputError`` naming ``name``."""
    value = text(params, name)
    return None if value is None else v.choice(tuple(options))(value, name)


def day(params: Mapping[str, str], name: str) -> date | None:
    """A ``YYYY-MM-DD`` day, or None."""
    value = text(params, name)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(name, "must be a day as YYYY-MM-DD") from None


def midnight(when: date) -> datetime:
    """The start of ``when`` in UTC."""
    return datetime(when.year, when.month, when.day, tzinfo=UTC)


def period(
    params: Mapping[str, str], today: date, default_days: int
) -> tuple[date, date, datetime, datetime]:
    """The ``from``/``to`` days (inclusive; the last ``default_days`` up to today by
    default) and the ``[start, end)`` instants they cover."""
    last = day(params, "to") or today
    first = day(params, "from") or last - timedelta(days=default_days - 1)
    if last < first:
        raise InputError("to", "must not be before from")
    return first, last, midnight(first), midnight(last) + DAY


def window(params: Mapping[str, str]) -> tuple[datetime | None, datetime | None]:
    """Optional ``from``/``to`` days as ``[since, until)`` instants (``to`` inclusive)."""
    first, last = day(params, "from"), day(params, "to")
    if first is not None and last is not None and last < first:
        raise InputError("to", "must not be before from")
    since = None if first is None else midnight(first)
    until = None if last is None else midnight(last) + DAY
    return since, until


def cursor(params: Mapping[str, str], name: str = "cursor") -> str | None:
    """An opaque page cursor, or None (the store refuses one it did not issue)."""
    value = text(params, name)
    if value is not None and len(value) > 4096:
        raise InputError(name, "is too long")
    return value


def query_without(params: Mapping[str, str], *names: str) -> dict[str, str]:
    """The non-empty filters, minus ``names``: the base of a next-page link."""
    return {k: val for k, val in params.items() if val.strip() and k not in names}
