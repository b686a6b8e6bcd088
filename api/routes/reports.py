"""The bar's reports: fairness figures, their tables as CSV, and the pocket-lawyer flags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import UowDep, role
from dispatcher import flags, reports
from dispatcher.errors import NotFound
from dispatcher.tokens import Principal
from policies.vocabulary import Role

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Bar = Annotated[Principal, Depends(role(Role.BAR, Role.ADMIN))]
From = Annotated[datetime | None, Query(alias="from", description="Start (inclusive)")]
To = Annotated[datetime | None, Query(description="End (exclusive)")]
Window = Annotated[
    int | None,
    Query(description="Trailing window of 30, 90 or 365 days, ending at `to` (default: now)"),
]


# --- response shapes (published in the OpenAPI schema) ------------------------------------------


class StageFigures(BaseModel):
    """One firm's figures for the rotation's offers or for the suspects' charged choices."""

    entitlement: float
    offers: int
    accepted: int
    declined: int
    expired: int
    deviation: float


class FirmFigures(BaseModel):
    firm: str
    weight: int = Field(description="Active lawyers of the firm in the territory (today)")
    entitlement: float = Field(description="Σ the firm's share at each charged decision")
    offers: int = Field(description="Charged decisions that went to the firm")
    rotation_offers: int
    chosen: int = Field(description="Charged suspects' choices of the firm's lawyers")
    accepted: int
    declined: int
    expired: int
    deviation: float = Field(description="offers − entitlement")
    acceptance_rate: float | None
    decline_rate: float | None
    expiry_rate: float | None
    declined_by_reason: dict[str, int]
    stages: dict[str, StageFigures] = Field(description="`rotation` and `choice` apart")


class LawyerFigures(BaseModel):
    lawyer: str
    firm: str
    invitations: int
    chosen: int
    accepted: int
    declined: int
    expired: int
    appointments: int
    acceptance_rate: float | None
    decline_rate: float | None


class CounselTimes(BaseModel):
    requests: int
    assigned: int
    p50_s: int | None
    p90_s: int | None
    p99_s: int | None
    mean_s: float | None


class ChiSquare(BaseModel):
    statistic: float | None
    dof: int
    p_value: float | None


class ChoiceFirm(BaseModel):
    firm: str
    chosen: int
    expected: float = Field(description="Σ over the lists shown of its lawyers / list length")


class ChoiceStage(BaseModel):
    choices: int
    by_kind: dict[str, int]
    firms: list[ChoiceFirm]
    chi_square: ChiSquare


class PositionCount(BaseModel):
    position: int
    chosen: int
    expected: float = Field(description="Σ over lists with this position of 1 / list length")


class PositionCounts(BaseModel):
    positions: list[PositionCount]
    chi_square: ChiSquare


class FairnessReport(BaseModel):
    """Every figure of one territory over a period; see `dispatcher.reports` for definitions."""

    model_config = ConfigDict(populate_by_name=True)
    territory: str
    from_: str | None = Field(alias="from")
    to: str | None
    decisions: int
    max_abs_deviation: float
    max_deviation: float
    min_deviation: float
    loosemore_hanby: float = Field(description="½ Σ |offer share − entitlement share|")
    gini: float = Field(description="Gini of offers per unit of entitlement")
    listed_lawyers: int
    top10_lawyers: int
    top10_share: float = Field(description="Appointments taken by the top 10% of lawyers")
    top10_limit: float = Field(description="Three times their represented share")
    top10_exceeds: bool
    time_to_counsel: dict[str, CounselTimes]
    choice_stage: ChoiceStage
    position_choice_counts: PositionCounts
    firms: list[FirmFigures]
    lawyers: list[LawyerFigures]


class TerritoryFigures(BaseModel):
    territory: str
    decisions: int
    firms: int
    max_abs_deviation: float
    loosemore_hanby: float


class Flag(BaseModel):
    requester: str
    lawyer: str
    requests: int = Field(description="The requester's requests that reached a lawyer")
    to_lawyer: int
    expected: float
    p_value: float
    q_value: float = Field(description="Benjamini–Hochberg adjusted; flagged below 0.05")


# --- the period -------------------------------------------------------------------------------


def aware(value: datetime | None) -> datetime | None:
    """A naive query time is read as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def resolve_period(
    start: datetime | None, end: datetime | None, window: int | None
) -> tuple[datetime | None, datetime | None]:
    """[from, to) from the query: a trailing window wins over `from`."""
    if window is not None:
        if window not in reports.TRAILING_DAYS:
            raise HTTPException(
                422,
                [
                    {
                        "loc": ["query", "window"],
                        "msg": "must be 30, 90 or 365 (days)",
                        "type": "value_error",
                    }
                ],
            )
        return reports.trailing(window, now=aware(end))
    return aware(start), aware(end)


# --- routes ----------------------------------------------------------------------------------


@router.get("/fairness", response_model=FairnessReport)
def fairness(
    principal: Bar,
    uow: UowDep,
    territory: str,
    from_: From = None,
    to: To = None,
    window: Window = None,
) -> dict[str, Any]:
    """Every fairness figure for one territory over a period or a trailing window."""
    start, end = resolve_period(from_, to, window)
    with uow() as session:
        return reports.fairness(session, territory, start, end)


@router.get("/fairness.csv", response_class=PlainTextResponse)
def fairness_csv(
    principal: Bar,
    uow: UowDep,
    territory: str,
    from_: From = None,
    to: To = None,
    window: Window = None,
) -> PlainTextResponse:
    """The per-firm table with the contract's columns."""
    start, end = resolve_period(from_, to, window)
    with uow() as session:
        report = reports.fairness(session, territory, start, end)
    return csv_response(reports.fairness_csv(report), f"fairness-{territory}.csv")


@router.get("/tables/{table}.csv", response_class=PlainTextResponse)
def table_csv(
    principal: Bar,
    uow: UowDep,
    table: str,
    territory: str | None = None,
    from_: From = None,
    to: To = None,
    window: Window = None,
) -> PlainTextResponse:
    """Any table of the report as CSV: firms, lawyers, declines, choices, positions,
    time_to_counsel, flags, territories."""
    start, end = resolve_period(from_, to, window)
    with uow() as session:
        text = table_text(session, table, territory, start, end)
    return csv_response(text, f"{table}-{territory or 'all'}.csv")


@router.get("/flags", response_model=list[Flag])
def pocket_lawyers(
    principal: Bar,
    uow: UowDep,
    territory: str | None = None,
    from_: From = None,
    to: To = None,
    window: Window = None,
) -> list[dict[str, Any]]:
    """Requester × lawyer pairs whose concentration is significant after FDR correction."""
    start, end = resolve_period(from_, to, window)
    with uow() as session:
        return flags.pocket_lawyers(session, territory=territory, start=start, end=end)


@router.get("/territories", response_model=list[TerritoryFigures])
def territories(
    principal: Bar, uow: UowDep, from_: From = None, to: To = None, window: Window = None
) -> list[dict[str, Any]]:
    """Per territory: decisions, largest firm deviation, Loosemore–Hanby index."""
    start, end = resolve_period(from_, to, window)
    with uow() as session:
        return reports.territories_overview(session, start, end)


TABLE_NAMES = (*reports.TABLES, "flags", "territories")


def table_text(
    session: Any, table: str, territory: str | None, start: datetime | None, end: datetime | None
) -> str:
    """One named table as CSV text (shared by the API and the dashboard)."""
    if table == "flags":
        rows = flags.pocket_lawyers(session, territory=territory, start=start, end=end)
        return reports.to_csv(list(Flag.model_fields), rows)
    if table == "territories":
        return reports.to_csv(
            list(TerritoryFigures.model_fields), reports.territories_overview(session, start, end)
        )
    if table not in reports.TABLES:
        raise NotFound(f"no table {table}; one of {', '.join(TABLE_NAMES)}")
    if territory is None:
        raise HTTPException(
            422, [{"loc": ["query", "territory"], "msg": "required", "type": "missing"}]
        )
    columns, rows = reports.table_rows(reports.fairness(session, territory, start, end), table)
    return reports.to_csv(columns, rows)


def csv_response(text: str, filename: str) -> PlainTextResponse:
    """CSV text as a download named `filename`."""
    return PlainTextResponse(
        text,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
