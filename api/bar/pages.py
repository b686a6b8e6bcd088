"""The bar's dashboard at /bar: the report with plots, drill-down, CSV and document exports.

Pages authenticate with the session cookie (`PagePrincipal`); without one they send the
reviewer to the login page, and a signed-in user of another role gets 403.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader

from api.bar import view
from api.deps import PagePrincipal, ScopeFormPeriod, TerritoryFormPeriod, UowDep
from api.pages import rendering
from api.pages.rendering import N_, gettext
from api.pages.session import render_staff, staff_language
from api.routes.reports import csv_response
from dispatcher import audit, workflow
from dispatcher.db import utcnow
from dispatcher.reports import flags, overview, render
from dispatcher.reports.tables import table_text
from dispatcher.tokens import Principal
from policies.vocabulary import Role

router = APIRouter(prefix="/bar", include_in_schema=False)

BAR_ROLES = (Role.BAR, Role.ADMIN)


@cache
def export_environment(language: str) -> Environment:
    """The pages' environment in `language`, able to extend the domain's report template
    (`dispatcher/reports/templates`) with the dashboard's own pieces; it keeps its filters."""
    pages = rendering.environment(language)
    env = pages.overlay(
        loader=ChoiceLoader(
            [FileSystemLoader(rendering.TEMPLATES), FileSystemLoader(render.TEMPLATES)]
        )
    )
    env.filters = {**pages.filters, **render.environment.filters}
    return env


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
    language: str = ""

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
        query = self._with(territory=self.territory_code, lang=self.language)
        return f"/bar/report.{fmt}?{query}"


def _query(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k in ("from", "to", "window") and v}


def _bar_page(request: Request, principal: Principal | None) -> Principal | Response:
    """The signed-in reviewer; else a redirect to sign in, or the 403 page in their language."""
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(login_url(target), status_code=303)
    if principal.role not in BAR_ROLES:
        return render_staff(request, "forbidden.html", principal=principal, status_code=403)
    return principal


def _plots(full: render.FullReport, names: overview.Names, language: str) -> dict[str, str]:
    words = render.words_in(rendering.TRANSLATIONS[language].gettext)
    titles = {u: gettext(language, t) for u, t in render.URGENCY_WORDS.items()}
    return {
        "counts": render.svg_data(render.figure_counts(full, words, names["firms"])),
        "counsel": render.svg_data(render.figure_counsel(full, words, titles)),
    }


@router.get("", response_class=HTMLResponse)
def dashboard(
    request: Request, principal: PagePrincipal, uow: UowDep, period: ScopeFormPeriod
) -> Response:
    """The national overview, or one territory's figures in plain words."""
    allowed = _bar_page(request, principal)
    if isinstance(allowed, Response):
        return allowed
    language = staff_language(request)
    start, end, code = period.start, period.end, period.territory
    cache = overview.cache
    with uow() as session:
        names = cache.get(session, ("names",), lambda: overview.names(session))
        if code is None:
            rows = cache.get(
                session, ("national", start, end), lambda: overview.national(session, start, end)
            )
            listed = view.overview(rows, names, language)
            full = None
        else:
            full = cache.get(
                session,
                ("full", code, start, end),
                lambda: render.gather(session, code, start, end, utcnow()),
            )
            plots = cache.get(
                session,
                ("plots", code, start, end, language),
                lambda: _plots(full, names, language),
            )
    territories = sorted(
        (view.territory_name(names, c, language) for c in names["territories"]),
        key=lambda t: t.name,
    )
    links = Links(code or "", _query(request), language)
    if full is None:
        return render_staff(
            request,
            "bar/overview.html",
            principal=allowed,
            rows=listed,
            links=links,
            territories=territories,
            query=links.query,
            chosen=code,
        )
    return render_staff(
        request,
        "bar/territory.html",
        principal=allowed,
        t=view.territory(full, names, language),
        plots=plots,
        generated_at=full.generated_at,
        links=links,
        territories=territories,
        query=links.query,
        chosen=code,
    )


@router.get("/report.{fmt}")
def export(
    request: Request,
    principal: Reviewer,
    uow: UowDep,
    fmt: Literal["html", "pdf"],
    period: TerritoryFormPeriod,
) -> Response:
    """The whole report as one self-contained HTML file or as PDF, in the reader's language
    (the dashboard's `lang`, else the remembered one)."""
    language = staff_language(request)
    lookup = rendering.TRANSLATIONS[language].gettext
    code, start, end = period.territory, period.start, period.end
    with uow() as session:
        names = overview.cache.get(session, ("names",), lambda: overview.names(session))
        full = overview.cache.get(
            session,
            ("full", code, start, end),
            lambda: render.gather(session, code, start, end, utcnow()),
        )
    name = f"fairness-{period.territory}-{language}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "pdf":
        return Response(
            render.pdf(full, gettext=lookup), media_type="application/pdf", headers=disposition
        )
    shown = view.territory(full, names, language)
    template = export_environment(language).get_template("bar/export.html")
    document = render.html(
        full,
        language=language,
        gettext=lookup,
        template=template,
        t=shown,
        territory_name=shown.territory.name,
    )
    return page(document, **disposition)


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
    request: Request,
    principal: Reviewer,
    uow: UowDep,
    requester: str,
    lawyer: str,
    period: ScopeFormPeriod,
) -> Response:
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
    return render_staff(
        request,
        "bar/audit.html",
        principal=principal,
        title=f"{requester} → {lawyer}",
        requests=found,
        requester=requester,
        lawyer=lawyer,
    )


@router.get("/verify", response_class=HTMLResponse)
def verify(request: Request, principal: Reviewer, uow: UowDep) -> Response:
    """The audit chain walked end to end, as a page."""
    with uow() as session:
        result = audit.verify(session)
    title = gettext(staff_language(request), VERIFY_TITLE)
    return render_staff(
        request, "bar/audit.html", principal=principal, title=title, verification=result.as_dict()
    )


VERIFY_TITLE = N_("Verifying the audit record")
EVENTS_TITLE = N_("The audit record of request %(id)s")


@router.get("/requests/{request_id}/audit", response_class=HTMLResponse)
def request_audit(request: Request, principal: Reviewer, uow: UowDep, request_id: str) -> Response:
    """Every audit event of one request, in chain order."""
    with uow() as session:
        found = workflow.get_request(session, request_id)
        explained = json.dumps(workflow.explanation(session, found), indent=2, ensure_ascii=False)
        events = audit.trail(session, request_id=request_id)
    title = gettext(staff_language(request), EVENTS_TITLE) % {"id": request_id}
    return render_staff(
        request,
        "bar/audit.html",
        principal=principal,
        title=title,
        events=events,
        request_id=request_id,
        explanation=explained,
    )
