"""The bar's dashboard at /bar: the report with plots, drill-down, CSV and document exports.

Pages authenticate with the session cookie (`PagePrincipal`); without one they send the
reviewer to the login page, and a signed-in user of another role gets 403.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from jinja2 import ChoiceLoader, FileSystemLoader

from api.deps import PagePrincipal, ScopeFormPeriod, TerritoryFormPeriod, UowDep
from api.routes.reports import csv_response
from dispatcher import audit, workflow
from dispatcher.db import utcnow
from dispatcher.reports import fairness, flags, render
from dispatcher.reports.tables import table_text
from dispatcher.tokens import Principal
from policies.vocabulary import Role

router = APIRouter(prefix="/bar", include_in_schema=False)

BAR_ROLES = (Role.BAR, Role.ADMIN)
# The dashboard and the audit pages live here; the report they extend lives with the domain
# (`dispatcher/reports/templates`): an overlay of the renderer's environment keeps its filters.
TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "bar"
environment = render.environment.overlay(
    loader=ChoiceLoader([FileSystemLoader(TEMPLATES), FileSystemLoader(render.TEMPLATES)])
)
# The pages run no script at all; their CSS and plots are inline (the same document is the
# self-contained export), so inline styles are the one thing allowed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page(html: str, **headers: str) -> HTMLResponse:
    """An HTML page with the security headers (and any others given)."""
    return HTMLResponse(html, headers={**SECURITY_HEADERS, **headers})


def reviewer(request: Request, principal: PagePrincipal) -> Principal:
    """The signed-in reviewer; otherwise a redirect to the login page (303) or 403."""
    if principal is None:
        # An HTTPException carrying a redirect: no application-wide handler is needed.
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "login required", headers={"Location": login_url(target)})
    if principal.role not in BAR_ROLES:
        raise HTTPException(403, f"role {principal.role} may not read the bar's reports")
    return principal


Reviewer = Annotated[Principal, Depends(reviewer)]


def login_url(target: str) -> str:
    """The login page, sending the reviewer back to `target` afterwards."""
    return f"/login?{urlencode({'next': target})}"


@dataclass(frozen=True)
class Links:
    """Where the dashboard's links go, keeping the territory and period."""

    territory_code: str
    query: dict[str, str]

    def _with(self, **values: str) -> str:
        merged = {k: v for k, v in {**self.query, **values}.items() if v}
        return urlencode(merged)

    def table(self, name: str) -> str:
        return f"/bar/tables/{name}.csv?{self._with(territory=self.territory_code)}"

    def territory(self, code: str) -> str:
        return f"/bar?{self._with(territory=code)}"

    def pair(self, requester: str, lawyer: str) -> str:
        query = self._with(territory=self.territory_code, requester=requester, lawyer=lawyer)
        return f"/bar/pairs?{query}"

    def export(self, fmt: str) -> str:
        return f"/bar/report.{fmt}?{self._with(territory=self.territory_code)}"


def _query(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k in ("from", "to", "window") and v}


@router.get("", response_class=HTMLResponse)
def dashboard(
    request: Request, principal: Reviewer, uow: UowDep, period: ScopeFormPeriod
) -> HTMLResponse:
    """The dashboard of one territory (the first one unless chosen)."""
    with uow() as session:
        codes = fairness.territory_list(session)
        if not codes:
            return page("<!doctype html><title>Bar</title><p>The registry is empty.</p>")
        code = period.territory or codes[0]
        full = render.gather(session, code, period.start, period.end, utcnow())
    links = Links(code, _query(request))
    dashboard = environment.get_template("dashboard.html")
    return page(
        render.html(full, template=dashboard, links=links, territories=codes, query=links.query)
    )


@router.get("/report.{fmt}")
def export(
    principal: Reviewer, uow: UowDep, fmt: Literal["html", "pdf"], period: TerritoryFormPeriod
) -> Response:
    """The whole report as one self-contained HTML file or as PDF."""
    with uow() as session:
        full = render.gather(session, period.territory, period.start, period.end, utcnow())
    name = f"fairness-{period.territory}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "pdf":
        return Response(render.pdf(full), media_type="application/pdf", headers=disposition)
    return page(render.html(full, links=None), **disposition)


@router.get("/tables/{table}.csv", response_class=PlainTextResponse)
def table(
    principal: Reviewer, uow: UowDep, table: str, period: ScopeFormPeriod
) -> PlainTextResponse:
    """Any table of the dashboard as CSV."""
    with uow() as session:
        text = table_text(session, table, period.territory, period.start, period.end)
    return csv_response(text, f"{table}-{period.territory or 'all'}.csv")


@router.get("/pairs", response_class=HTMLResponse)
def pair(
    principal: Reviewer, uow: UowDep, requester: str, lawyer: str, period: ScopeFormPeriod
) -> HTMLResponse:
    """The requests behind a flagged pair, each linking to its audit events."""
    with uow() as session:
        found = flags.requests_of_pair(
            session,
            requester=requester,
            lawyer=lawyer,
            territory=period.territory,
            start=period.start,
            end=period.end,
        )
    return page(
        environment.get_template("audit.html").render(
            title=f"{requester} → {lawyer}", requests=found, requester=requester, lawyer=lawyer
        )
    )


@router.get("/verify", response_class=HTMLResponse)
def verify(principal: Reviewer, uow: UowDep) -> HTMLResponse:
    """The audit chain walked end to end, as a page."""
    with uow() as session:
        result = audit.verify(session)
    return page(
        environment.get_template("audit.html").render(
            title="Audit chain verification", verification=result.as_dict()
        )
    )


@router.get("/requests/{request_id}/audit", response_class=HTMLResponse)
def request_audit(principal: Reviewer, uow: UowDep, request_id: str) -> HTMLResponse:
    """Every audit event of one request, in chain order."""
    with uow() as session:
        found = workflow.get_request(session, request_id)
        explained = json.dumps(workflow.explanation(session, found), indent=2, ensure_ascii=False)
        events = audit.trail(session, request_id=request_id)
    return page(
        environment.get_template("audit.html").render(
            title=f"Audit events of request {request_id}",
            events=events,
            request_id=request_id,
            explanation=explained,
        )
    )
