"""The bar's reports: fairness figures, their tables as CSV, and the pocket-lawyer flags.

The answers' shapes are the domain's TypedDicts (`dispatcher.reports.rows`), published as the
response schemas; a route resolves the caller and the period, calls the domain, and answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from api.deps import PeriodDep, ScopePeriod, TerritoryPeriod, UowDep, role
from api.responses import AUTH, errors
from dispatcher.reports import fairness as figures
from dispatcher.reports import flags, tables
from dispatcher.reports.rows import FairnessReport, Flag, TerritoryFigures
from dispatcher.tokens import Principal
from policies.vocabulary import Role

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Bar = Annotated[Principal, Depends(role(Role.BAR, Role.ADMIN))]


@router.get("/fairness", response_model=FairnessReport, responses=errors(*AUTH, 404, 422))
def fairness(principal: Bar, uow: UowDep, period: TerritoryPeriod) -> FairnessReport:
    """Every fairness figure for one territory over a period or a trailing window."""
    with uow() as session:
        return figures.fairness(session, period.territory, period.start, period.end)


class CsvResponse(PlainTextResponse):
    """CSV text (so the OpenAPI document names the media type a client receives)."""

    media_type = "text/csv"


@router.get(
    "/fairness.csv",
    response_class=CsvResponse,
    responses=errors(*AUTH, 404, 422, answers_json=False),
)
def fairness_csv(principal: Bar, uow: UowDep, period: TerritoryPeriod) -> CsvResponse:
    """The per-firm table with the contract's columns."""
    with uow() as session:
        report = figures.fairness(session, period.territory, period.start, period.end)
    return csv_response(tables.fairness_csv(report), f"fairness-{period.territory}.csv")


@router.get(
    "/tables/{table}.csv",
    response_class=CsvResponse,
    responses=errors(*AUTH, 404, 422, answers_json=False),
)
def table_csv(principal: Bar, uow: UowDep, table: str, period: ScopePeriod) -> CsvResponse:
    """Any table of the report as CSV: firms, lawyers, declines, choices, positions,
    time_to_counsel, flags, territories."""
    with uow() as session:
        text = tables.table_text(session, table, period.territory, period.start, period.end)
    return csv_response(text, f"{table}-{period.territory or 'all'}.csv")


@router.get("/flags", response_model=list[Flag], responses=errors(*AUTH, 404, 422))
def pocket_lawyers(principal: Bar, uow: UowDep, period: ScopePeriod) -> list[Flag]:
    """Requester × lawyer pairs whose concentration is significant after FDR correction."""
    with uow() as session:
        return flags.pocket_lawyers(
            session, territory=period.territory, start=period.start, end=period.end
        )


@router.get("/territories", response_model=list[TerritoryFigures], responses=errors(*AUTH, 422))
def territories(principal: Bar, uow: UowDep, period: PeriodDep) -> list[TerritoryFigures]:
    """Per territory: decisions, largest firm deviation, Loosemore–Hanby index."""
    with uow() as session:
        return figures.territories_overview(session, period.start, period.end)


def csv_response(text: str, filename: str) -> CsvResponse:
    """CSV text as a download named `filename`."""
    return CsvResponse(
        text,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
