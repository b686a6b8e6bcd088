"""Dependencies: the runtime, the unit of work, the caller's token and role checks, and the
territory and period a report is asked for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

import structlog
from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator
from sqlmodel import Session

from api.limits import check_page_principal
from dispatcher import workflow
from dispatcher.db import read_only, unit_of_work
from dispatcher.models import Lawyer
from dispatcher.reports.fairness import TRAILING_DAYS, trailing
from dispatcher.runtime import Runtime
from dispatcher.tokens import Principal, look_up, note_use, resolve_page_session
from policies.vocabulary import REQUESTER_ROLES, Role

bearer = HTTPBearer(auto_error=False, description="A token from `dispatcher token create`.")


# The dependencies that only look at what they are given are coroutines: FastAPI runs a plain
# function dependency on a worker thread, and a thread hop per dependency per request cost more
# than everything they do. Those that read the database stay functions (off the event loop).


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UnitOfWork = Callable[[], AbstractContextManager[Session]]


async def get_uow(runtime: RuntimeDep) -> UnitOfWork:
    """A factory for the route's one transaction: `with uow() as session: ...`."""
    return lambda: unit_of_work(runtime.engine)


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


def get_principal(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    # Checked in a reading transaction (beside the writers, on SQLite); the token's use is
    # written in a transaction of its own, about once a minute.
    with read_only(runtime.engine) as session:
        sighting = look_up(session, credentials.credentials)
    if sighting is None:
        raise HTTPException(401, "invalid token", headers={"WWW-Authenticate": "Bearer"})
    principal = sighting.principal
    if sighting.use_due:
        with unit_of_work(runtime.engine) as session:
            note_use(session, principal.token_id)
    structlog.contextvars.bind_contextvars(role=principal.role, token_id=principal.token_id)
    if not runtime.limiter.hit(principal.token_id):
        raise HTTPException(
            429,
            f"more than {runtime.settings.rate_limit_per_minute} requests a minute",
            headers={"Retry-After": "60"},
        )
    return principal


def role(*allowed: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only the given roles through (403 otherwise)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(403, f"role {principal.role} may not do this")
        return principal

    return check


def context(
    runtime: Runtime, principal: Principal | None, actor: str | None = None
) -> workflow.Context:
    return runtime.context(actor or (principal.actor if principal else "anonymous"))


def lawyer_of(session: Session, principal: Principal) -> Lawyer:
    lawyer = session.get(Lawyer, principal.lawyer_id) if principal.lawyer_id else None
    if lawyer is None:
        raise HTTPException(403, "this token is not linked to a lawyer")
    return lawyer


def requester_scope(principal: Principal) -> int | None:
    """The requester whose requests this caller may see (None: all of them)."""
    return principal.requester_id if principal.role in REQUESTER_ROLES else None


# The web pages keep a session id in this cookie (HttpOnly, SameSite=Strict), set by the login
# page from a token: a random id of a server-side session, never the API token itself. The
# session resolves to the same principal as its token, through the same checks (revoked,
# expired), read from the database on every request.
PAGE_COOKIE = "dispatcher_session"


def page_principal(runtime: RuntimeDep, request: Request) -> Principal | None:
    """The principal of the page's session cookie, or None (the page then asks to log in)."""
    raw = request.cookies.get(PAGE_COOKIE)
    if not raw:
        return None
    with unit_of_work(runtime.engine) as session:
        principal = resolve_page_session(session, raw)
    if principal is not None:
        structlog.contextvars.bind_contextvars(role=principal.role, token_id=principal.token_id)
        # Pages and exports count against the token like the API (exports more strictly).
        check_page_principal(runtime, request.url.path, principal)
    return principal


PagePrincipal = Annotated[Principal | None, Depends(page_principal)]


def bearer_or_page(
    runtime: RuntimeDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """A bearer token, or else the page's session cookie (an EventSource sends no header)."""
    if credentials is not None:
        return get_principal(runtime, credentials)
    principal = page_principal(runtime, request)
    if principal is None:
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return principal


# --- a report's territory and period ---------------------------------------------------------
#
# The JSON routes read `from` and `to` as datetimes and `window` as a number (FastAPI answers 422
# for a bad one); the dashboard's form sends them as text, any of them possibly empty. Either
# becomes a `ReportPeriod`: the territory (required, optional or absent as the route says) and
# [start, end). The parameters are read by small dependencies of their own, territory first, and
# resolved only once all of them are valid: the query keeps its order (`territory`, `from`,
# `to`, `window`) and a request with several faults gets the same error as before.

TerritoryT = TypeVar("TerritoryT", bound=str | None)


@dataclass(frozen=True)
class ReportPeriod(Generic[TerritoryT]):
    """The territory a report is asked for and its period [start, end); None: open."""

    territory: TerritoryT
    start: datetime | None
    end: datetime | None


def aware(value: datetime | None) -> datetime | None:
    """A naive query time is read as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# A time a caller sends must lie where the service can compute with it: a trailing window
# subtracts up to a year from `to`, and the database stores UTC, so the far ends of the calendar
# (0001-01-01 with an offset, 9999-12-31) would overflow after validation.
FIRST_YEAR, LAST_YEAR = 1900, 8999


def within_calendar(value: datetime) -> datetime:
    """A query time as an aware UTC datetime; ValueError outside the years 1900 to 8999."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


QueryTime = Annotated[datetime, AfterValidator(within_calendar)]
"""A time in a query: ISO 8601, naive read as UTC, within the years the service computes with."""


def resolve_period(
    start: datetime | None, end: datetime | None, window: int | None
) -> tuple[datetime | None, datetime | None]:
    """[from, to) from the query: a trailing window wins over `from`."""
    if window is not None:
        if window not in TRAILING_DAYS:
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
        return trailing(window, now=aware(end))
    return aware(start), aware(end)


@dataclass(frozen=True)
class PeriodQuery:
    """The period's parameters of a JSON route, as parsed by FastAPI."""

    start: datetime | None
    end: datetime | None
    window: int | None

    def resolve(self) -> tuple[datetime | None, datetime | None]:
        return resolve_period(self.start, self.end, self.window)


@dataclass(frozen=True)
class PeriodForm:
    """The period's fields of the dashboard's form, as sent (text, possibly empty)."""

    start: str | None
    end: str | None
    window: str | None

    def resolve(self) -> tuple[datetime | None, datetime | None]:
        start = _form_time("from", self.start)
        end = _form_time("to", self.end)
        try:
            days = int(self.window) if self.window else None
        except ValueError as exc:
            raise HTTPException(422, "bad period: window is not a number of days") from exc
        return resolve_period(start, end, days)


def _form_time(field: str, text: str | None) -> datetime | None:
    """A time of the dashboard's form; 422 naming the field (never echoing the text)."""
    if not text:
        return None
    try:
        return within_calendar(datetime.fromisoformat(text))
    except ValueError as exc:
        reason = str(exc) if str(exc).startswith("must be") else "is not a date (ISO 8601)"
        raise HTTPException(422, f"bad period: {field} {reason}") from exc


def period_query(
    from_: Annotated[QueryTime | None, Query(alias="from", description="Start (inclusive)")] = None,
    to: Annotated[QueryTime | None, Query(description="End (exclusive)")] = None,
    window: Annotated[
        int | None,
        Query(
            description="Trailing window of 30, 90 or 365 days, ending at `to` (default: now)",
            # Published as an enum; checked by `resolve_period`, once the other parameters are
            # valid (a request with several faults is told of the first one, as before).
            json_schema_extra={"enum": list(TRAILING_DAYS)},
        ),
    ] = None,
) -> PeriodQuery:
    return PeriodQuery(from_, to, window)


def period_form(
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    window: str | None = None,
) -> PeriodForm:
    return PeriodForm(from_, to, window)


def required_territory(territory: str) -> str:
    return territory


def optional_territory(territory: str | None = None) -> str | None:
    return territory


Territory = Annotated[str, Depends(required_territory)]
AnyTerritory = Annotated[str | None, Depends(optional_territory)]
PeriodQueryDep = Annotated[PeriodQuery, Depends(period_query)]
PeriodFormDep = Annotated[PeriodForm, Depends(period_form)]


def every_territory(query: PeriodQueryDep) -> ReportPeriod[None]:
    """A JSON route's period over every territory."""
    return ReportPeriod(None, *query.resolve())


def one_territory(territory: Territory, query: PeriodQueryDep) -> ReportPeriod[str]:
    """A JSON route's period and the territory it must name."""
    return ReportPeriod(territory, *query.resolve())


def any_territory(territory: AnyTerritory, query: PeriodQueryDep) -> ReportPeriod[str | None]:
    """A JSON route's period and the territory it may name (None: every one)."""
    return ReportPeriod(territory, *query.resolve())


def one_territory_form(territory: Territory, form: PeriodFormDep) -> ReportPeriod[str]:
    """A dashboard page's period and the territory it must name."""
    return ReportPeriod(territory, *form.resolve())


def any_territory_form(territory: AnyTerritory, form: PeriodFormDep) -> ReportPeriod[str | None]:
    """A dashboard page's period and the territory it may name (None: the page chooses)."""
    return ReportPeriod(territory, *form.resolve())


PeriodDep = Annotated[ReportPeriod[None], Depends(every_territory)]
TerritoryPeriod = Annotated[ReportPeriod[str], Depends(one_territory)]
ScopePeriod = Annotated[ReportPeriod[str | None], Depends(any_territory)]
TerritoryFormPeriod = Annotated[ReportPeriod[str], Depends(one_territory_form)]
ScopeFormPeriod = Annotated[ReportPeriod[str | None], Depends(any_territory_form)]
