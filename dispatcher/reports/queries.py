"""The SQL pieces the fairness figures and the pocket-lawyer flags share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, literal
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlmodel import Session, func

from dispatcher.models import Choice


def period(
    column: Mapped[datetime], start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    """The clauses keeping `column` inside [start, end); an open end is no clause."""
    clauses: list[ColumnElement[bool]] = []
    if start is not None:
        clauses.append(column >= start)
    if end is not None:
        clauses.append(column < end)
    return clauses


def seconds_between(
    session: Session, later: Mapped[datetime], earlier: Mapped[datetime]
) -> ColumnElement[float] | ColumnElement[int]:
    """`later - earlier` in seconds, on SQLite (Julian days) and PostgreSQL (epoch)."""
    if session.get_bind().dialect.name == "sqlite":
        days: ColumnElement[float] = func.julianday(later) - func.julianday(earlier)
        return days * 86400.0
    return func.extract("epoch", later - earlier)


def list_entries(
    session: Session,
) -> tuple[TableValuedAlias, KeyedColumnElement[str], KeyedColumnElement[str]]:
    """The entries of each stored tablet list: (table-valued source, licence, firm).

    Joined implicitly to `Choice` (a correlated table-valued function: SQLite's json_each,
    PostgreSQL's json_array_elements), so lists are counted in SQL, not unpacked in Python.
    """
    licence: ColumnElement[str]
    firm: ColumnElement[str]
    if session.get_bind().dialect.name == "sqlite":
        entries = func.json_each(Choice.options).table_valued("value", joins_implicitly=True)
        licence = func.json_extract(entries.c.value, "$.lawyer")
        firm = func.json_extract(entries.c.value, "$.firm")
    else:
        entries = func.json_array_elements(Choice.options).table_valued(
            "value", joins_implicitly=True
        )
        licence = entries.c.value.op("->>")(literal("lawyer"))
        firm = entries.c.value.op("->>")(literal("firm"))
    return entries, licence.label("licence"), firm.label("firm")


def list_length() -> ColumnElement[int]:
    """Entries of the stored list (json_array_length exists on SQLite and PostgreSQL)."""
    length: ColumnElement[int] = func.json_array_length(Choice.options)
    return length


def month_of(
    session: Session, column: Mapped[datetime] | ColumnElement[datetime]
) -> ColumnElement[str]:
    """'YYYY-MM' of a moment, on SQLite and PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        text: ColumnElement[str] = func.strftime("%Y-%m", column)
        return text
    return func.to_char(column, "YYYY-MM")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first moment of 'YYYY-MM' (UTC) and of the month after it."""
    start = datetime.fromisoformat(f"{month}-01T00:00:00+00:00")
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end
