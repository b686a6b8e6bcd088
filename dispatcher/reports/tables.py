"""The report's tables as CSV: the per-firm table with the contract's columns, and any table
of the dashboard (shared by the API, the dashboard and `dispatcher report --format csv`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlmodel import Session

from dispatcher.errors import DomainError, NotFound
from dispatcher.reports import fairness, flags
from dispatcher.reports.rows import FairnessReport, Flag, TerritoryFigures

FAIRNESS_COLUMNS = (
    "firm",
    "weight",
    "entitlement",
    "offers",
    "accepted",
    "declined",
    "expired",
    "deviation",
)
# The tables cut from one territory's report, and the two that span territories.
TABLES = ("firms", "lawyers", "declines", "choices", "positions", "time_to_counsel")
TABLE_NAMES = (*TABLES, "flags", "territories")

Row = Mapping[str, object]


class TerritoryRequired(DomainError):
    """A table cut from one territory's report was asked for without a territory."""

    status_code = 422

    def __init__(self) -> None:
        super().__init__([{"loc": ["query", "territory"], "msg": "required", "type": "missing"}])


def table_rows(report: FairnessReport, table: str) -> tuple[list[str], Sequence[Row]]:
    """One of the report's tables as (columns, rows), for CSV export."""
    if table == "firms":
        extra = ["rotation_offers", "chosen", "acceptance_rate", "decline_rate", "expiry_rate"]
        return [*FAIRNESS_COLUMNS, *extra], report["firms"]
    if table == "lawyers":
        lawyers = report["lawyers"]
        return list(lawyers[0]) if lawyers else ["lawyer", "firm"], lawyers
    if table == "declines":
        return ["firm", "reason", "declined"], [
            {"firm": f["firm"], "reason": reason, "declined": n}
            for f in report["firms"]
            for reason, n in sorted(f["declined_by_reason"].items())
        ]
    if table == "choices":
        return ["firm", "chosen", "expected"], report["choice_stage"]["firms"]
    if table == "positions":
        return ["position", "chosen", "expected"], report["position_choice_counts"]["positions"]
    if table == "time_to_counsel":
        return ["urgency", "requests", "assigned", "p50_s", "p90_s", "p99_s", "mean_s"], [
            {"urgency": u, **v} for u, v in report["time_to_counsel"].items()
        ]
    raise KeyError(table)


def to_csv(columns: Sequence[str], rows: Iterable[Row]) -> str:
    """Rows as CSV with a header line; keys outside `columns` are left out."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def fairness_csv(report: FairnessReport) -> str:
    """The per-firm table with the contract's columns."""
    return to_csv(FAIRNESS_COLUMNS, report["firms"])


def table_text(
    session: Session,
    table: str,
    territory: str | None,
    start: datetime | None,
    end: datetime | None,
) -> str:
    """One named table as CSV text; 404 for an unknown table, 422 when it needs a territory."""
    if table == "flags":
        flagged = flags.pocket_lawyers(session, territory=territory, start=start, end=end)
        return to_csv(list(Flag.__annotations__), flagged)
    if table == "territories":
        overview = fairness.territories_overview(session, start, end)
        return to_csv(list(TerritoryFigures.__annotations__), overview)
    if table not in TABLES:
        raise NotFound(f"no table {table}; one of {', '.join(TABLE_NAMES)}")
    if territory is None:
        raise TerritoryRequired()
    columns, rows = table_rows(fairness.fairness(session, territory, start, end), table)
    return to_csv(columns, rows)
