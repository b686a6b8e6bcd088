"""The public transparency page: per territory and month, how the service did; no sign-in.

`/public` (HTML, az/ru/en), `/public.csv` and `/public.json` (downloads of every month), and
`/api/v1/public` (the same JSON, in the API's document). Counts only, never a name: a count of
1 to 4 is withheld (`null` in JSON, `<5` in CSV and on the page) so that nobody can be picked
out. The newest daily snapshot's digest lets anyone check later that the record was not
rewritten (`dispatcher report verify` and the audit chain hold the same digest).
"""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from api.deps import UowDep
from api.pages.rendering import pick_language, render
from api.responses import errors
from dispatcher.db import utcnow
from dispatcher.reports import overview, snapshots

router = APIRouter()
WITHHELD = "<5"


class PublicRowOut(BaseModel):
    """One territory and month; a null count was withheld (1 to 4 cases)."""

    territory: str = Field(description="The territory's code")
    territory_name: str = Field(description="The territory's name (in English)")
    month: str = Field(description="YYYY-MM (UTC)")
    requests: int | None = Field(description="Requests for counsel; null: fewer than 5")
    served: int | None = Field(description="Requests whose lawyer accepted; null: fewer than 5")
    within_hour_share: float | None = Field(
        description="Share of the served with a lawyer within one hour; null below 5 served"
    )
    evenness: float | None = Field(
        description="1 − Loosemore–Hanby index of the firms' cases against their fair shares "
        "(1: exactly proportional); null below 5 decisions"
    )
    flags: int | None = Field(
        description="Investigator–lawyer pairs the bar's test flagged; null: 1 to 4"
    )


class SnapshotOut(BaseModel):
    """The newest daily snapshot of every territory's report, sealed in the audit chain."""

    day: str
    sha256: str = Field(description="SHA-256 of the digests of every territory's report")
    audit_seq: int
    audit_hash: str = Field(description="The audit chain's hash of the snapshot's event")


class PublicOut(BaseModel):
    """The public figures: every territory and month, small counts withheld."""

    generated_at: str
    withheld_below: int = Field(description="Counts from 1 to this minus one are withheld")
    snapshot: SnapshotOut | None
    rows: list[PublicRowOut]


def public_figures(uow: UowDep, month: str | None = None) -> PublicOut:
    """Every territory and month (or one month's) as the public may read them, with the
    newest snapshot."""
    with uow() as session:
        rows = overview.cache.get(
            session, ("public", month), lambda: overview.public_rows(session, month)
        )
        names = overview.cache.get(session, ("names",), lambda: overview.names(session))
        latest = snapshots.latest(session)
    territories = names["territories"]
    return PublicOut(
        generated_at=utcnow().isoformat(timespec="seconds"),
        withheld_below=overview.SUPPRESS_BELOW,
        snapshot=SnapshotOut(**latest) if latest else None,
        rows=[
            PublicRowOut(
                territory_name=territories.get(r["territory"], {}).get("en", r["territory"]),
                **r,
            )
            for r in rows
        ],
    )


@router.get(
    "/api/v1/public",
    response_model=PublicOut,
    responses=errors(),
    tags=["public"],
    summary="The public transparency figures",
)
def public_api(uow: UowDep) -> PublicOut:
    """Per territory and month: requests, served, counsel within the hour, evenness, flags.

    No sign-in. Counts of 1 to 4 are null (withheld); the newest daily snapshot's digest is
    included so that anyone can check later that the record was not rewritten."""
    return public_figures(uow)


@router.get("/public.json", include_in_schema=False, response_model=PublicOut)
def public_json(uow: UowDep) -> PublicOut:
    """The same as `/api/v1/public`, as a download beside the page."""
    return public_figures(uow)


CSV_COLUMNS = (
    "territory",
    "territory_name",
    "month",
    "requests",
    "served",
    "within_hour_share",
    "evenness",
    "flags",
)


def csv_text(figures: PublicOut) -> str:
    """Every row as CSV; a withheld count is written `<5`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in figures.rows:
        values = row.model_dump()
        writer.writerow([WITHHELD if values[c] is None else values[c] for c in CSV_COLUMNS])
    return out.getvalue()


@router.get("/public.csv", include_in_schema=False, response_class=PlainTextResponse)
def public_csv(uow: UowDep) -> PlainTextResponse:
    return PlainTextResponse(
        csv_text(public_figures(uow)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="public.csv"'},
    )


@router.get("/public", include_in_schema=False)
def public_page(request: Request, uow: UowDep, month: str | None = None) -> Response:
    """The page: one month's table (the newest unless chosen), the snapshot, the downloads."""
    language = pick_language(request.query_params.get("lang"))
    with uow() as session:
        # The page shows one month: only that month's figures are computed (the downloads
        # compute every month).
        months = overview.cache.get(
            session, ("public-months",), lambda: overview.public_months(session)
        )
        names = overview.cache.get(session, ("names",), lambda: overview.names(session))
    shown = month if month in months else (months[0] if months else "")
    figures = public_figures(uow, shown or None)
    rows = sorted(
        (r for r in figures.rows if r.month == shown),
        key=lambda r: names["territories"].get(r.territory, {}).get(language, r.territory),
    )
    return render(
        request,
        "public/index.html",
        language=language,
        figures=figures,
        rows=rows,
        months=months,
        shown=shown,
        territory_names={
            code: by_language.get(language, code)
            for code, by_language in names["territories"].items()
        },
        withheld=WITHHELD,
    )
