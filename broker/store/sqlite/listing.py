"""Newest-first, cursor-paginated listings of one SQLite table (sessions, consent requests).

Filters are equalities on columns plus a state filter; a state whose value
is derived on read (an unused session past its expiry reads ``expired``, an
unanswered request past its expiry too) is matched by the SQL the table's
``state_as_read`` gives for it, with the reader's time bound, so the filter
sees what a reader sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from broker.store.base import Page
from broker.store.encoding import decode_cursor, encode_cursor

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Listing:
    """How one table is listed: its columns, where ``created_at`` sits in a row, and
    the SQL (one ``?`` for the reader's time) of each state derived on read."""

    table: str
    columns: str
    created: int
    state_as_read: Mapping[str, str]

    def sql(
        self,
        equal: Sequence[tuple[str, object | None]],
        state: str | None,
        cursor: str | None,
        limit: int,
        now_us: int,
        bounds: Sequence[tuple[str, object | None]] = (),
    ) -> tuple[str, list[Any]]:
        """The statement and its parameters for one page (``limit + 1`` rows: one more
        tells whether another page follows). ``bounds`` are fixed comparisons such as
        ``created_at >= ?`` with their value, skipped when the value is ``None``."""
        clauses = [f"{column} = ?" for column, value in equal if value is not None]
        params: list[Any] = [value for _, value in equal if value is not None]
        clauses += [clause for clause, value in bounds if value is not None]
        params += [value for _, value in bounds if value is not None]
        derived = None if state is None else self.state_as_read.get(state)
        if derived is not None:
            clauses.append(derived)
            params.append(now_us)
        elif state is not None:
            clauses.append("state = ?")
            params.append(state)
        if cursor is not None:
            clauses.append("(created_at, id) < (?, ?)")
            params.extend(decode_cursor(cursor))
        where = " AND ".join(clauses) or "1"
        # Only fixed table and column names are interpolated; every value is bound.
        sql = (
            f"SELECT {self.columns} FROM {self.table} WHERE {where}"  # noqa: S608
            " ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        return sql, [*params, limit + 1]

    def page(self, rows: Sequence[Any], limit: int, read: Callable[[Any], T]) -> Page[T]:
        """The page of ``rows`` (as ``sql`` fetched them), with the next page's cursor."""
        items = [read(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return Page(items)
        last = rows[limit - 1]
        return Page(items, encode_cursor(last[self.created], last[0]))
