"""The rota pages: the bar reviews a draft (a calendar grid, the fairness figures, the problems)
and the administrator plans one and approves it. The same services as the rota API."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import col

from api.deps import PagePrincipal, RuntimeDep, UowDep
from api.pages.rendering import N_, gettext, language_names, local_minute, local_time
from api.pages.session import form_allowed, render_staff, see_other, staff_language
from dispatcher.errors import DomainError, NotFound
from dispatcher.models import Territory
from dispatcher.rota import service
from dispatcher.rota.model import ProblemValue, is_night
from dispatcher.rota.service import (
    PartShown,
    ProblemShown,
    RotaLawyerShown,
    RotaOut,
    RotaRefused,
)
from dispatcher.tokens import Principal
from policies.vocabulary import Role, RotaPart, RotaProblem, RotaRefusal

router = APIRouter(prefix="/rotas")

READERS = (Role.BAR, Role.ADMIN)
DONE = {
    "approved": N_(
        "The rota is approved: during its period only its lawyers on duty take detentions."
    ),
}
REFUSED = {
    404: N_("There is no such rota."),
    409: N_("The rota cannot be approved:"),
    422: N_("Choose a territory, a first day and a number of days from 1 to 366."),
}
CsrfField = Annotated[str | None, Form()]
# The planner's problems and the approval refusals, from their keys and values
# (`dispatcher/rota/model.py` Problem, `dispatcher/rota/service.py` RotaRefused).
PROBLEMS = {
    RotaProblem.RULES_CONFLICT: N_("%(subjects)s within %(limits)s."),
    RotaProblem.FIRM_SHARES_RELAXED: N_(
        "%(conflict)s: firm duties are planned as close to their shares as possible."
    ),
    RotaProblem.NOT_FOUND_IN_TIME: N_(
        "No rota of %(territory)s was found within %(seconds)s s. This is not proven "
        "infeasible: the time ran out before a rota was found or shown impossible; plan "
        "again with a longer time limit."
    ),
    RotaProblem.NOT_EXPLAINED_IN_TIME: N_(
        "The rules of the rota of %(territory)s cannot all hold, and the time ran out before "
        "the planner could name which."
    ),
}
BOTH = N_("%(first)s and %(last)s")
PARTS = {
    RotaPart.NO_LAWYERS: N_(
        "no lawyer serves %(territory)s, so its %(slots)s slots cannot be filled"
    ),
    RotaPart.NO_SPEAKER: N_(
        "no %(language)s speaker serves %(territory)s, so %(nights)s nights cannot have one"
    ),
    RotaPart.SPEAKERS: N_("speakers of %(language)s (%(count)s) cannot cover %(nights)s nights"),
    RotaPart.JUVENILE: N_("juvenile specialists (%(count)s) cannot cover %(slots)s slots"),
    RotaPart.LAWYERS: N_("lawyers (%(count)s) cannot fill %(duties)s duties in %(slots)s slots"),
    RotaPart.FIRM_SHARES: N_("firms cannot all be within 1 duty of their shares"),
    RotaPart.UNPLANNABLE: N_("the rota of %(territory)s cannot be planned"),
    RotaPart.WEEKLY_CAP: N_("the weekly cap of %(cap)s duties"),
    RotaPart.REST: N_("%(hours)s hours of rest between duties"),
    RotaPart.AVAILABILITY: N_("their leave, opt-outs and duties in other territories"),
    RotaPart.FIRM_SHARE: N_("every firm within 1 duty of its share"),
}
REFUSALS = {
    RotaRefusal.ALREADY_APPROVED: N_("The rota is already approved."),
    RotaRefusal.INFEASIBLE: N_(
        "The planner found no rota that keeps every rule: see its problems."
    ),
    RotaRefusal.OVERLAPS: N_("Another rota of the same territory is approved for that period."),
    RotaRefusal.ON_DUTY_ELSEWHERE: N_(
        "Lawyer %(lawyer)s is on duty in another territory from %(start)s to %(end)s."
    ),
    RotaRefusal.OVER_WEEKLY_CAP: N_(
        "Lawyer %(lawyer)s would serve %(duties)s duties in week %(week)s of the rota over "
        "every territory, above the weekly cap of %(cap)s."
    ),
}


@dataclass(frozen=True)
class Cell:
    night: bool
    lawyers: list[RotaLawyerShown]


@dataclass(frozen=True)
class Day:
    day: date
    weekend: bool
    cells: list[Cell | None]


@dataclass(frozen=True)
class LawyerFigure:
    lawyer: RotaLawyerShown
    total: int
    nights: int
    weekends: int


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _part_words(language: str, part: PartShown) -> str:
    values: dict[str, ProblemValue] = dict(part.values)
    if "language" in values:
        values["language"] = language_names(language, [str(values["language"])])[0]
    return gettext(language, PARTS[part.key]) % values


def _listed(language: str, words: list[str]) -> str:
    if len(words) < 2:
        return "".join(words)
    return gettext(language, BOTH) % {"first": ", ".join(words[:-1]), "last": words[-1]}


def problem_words(language: str, problem: ProblemShown) -> str:
    """A planner's problem in the reader's language (a problem kept without a key: its English)."""
    if problem.key is None:
        return problem.text
    subjects = "; ".join(_part_words(language, p) for p in problem.subjects)
    limits = _listed(language, [_part_words(language, p) for p in problem.limits])
    conflict = (
        gettext(language, PROBLEMS[RotaProblem.RULES_CONFLICT])
        % {"subjects": subjects, "limits": limits}
        if limits
        else f"{subjects}."
    )
    if problem.key == RotaProblem.RULES_CONFLICT:
        return _capital(conflict)
    values: dict[str, ProblemValue] = {**problem.values, "conflict": _capital(conflict[:-1])}
    return _capital(gettext(language, PROBLEMS[problem.key]) % values)


def refusal_words(language: str, timezone: str, refused: RotaRefused) -> str:
    """Why a draft cannot be approved, in the reader's language."""
    values = dict(refused.values)
    for moment in ("start", "end"):
        if moment in values:
            values[moment] = local_time(values[moment], language, timezone)
    return gettext(language, REFUSALS[refused.key]) % values


def _reader(request: Request, principal: Principal | None) -> Principal | Response:
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return see_other(f"/login?next={quote(target, safe='')}")
    if principal.role not in READERS:
        return render_staff(request, "forbidden.html", principal=principal, status_code=403)
    return principal


def _territories(uow: UowDep, language: str) -> list[tuple[str, str]]:
    with uow() as session:
        rows = session.execute(select(Territory).order_by(col(Territory.code))).scalars()
        return [(t.code, str(getattr(t, f"name_{language}"))) for t in rows]


@router.get("")
def rotas(request: Request, principal: PagePrincipal, uow: UowDep, runtime: RuntimeDep) -> Response:
    """The latest rotas and, for the administrator, the form that plans a new draft."""
    who = _reader(request, principal)
    if isinstance(who, Response):
        return who
    return _list(request, who, uow, runtime)


def _list(
    request: Request,
    who: Principal,
    uow: UowDep,
    runtime: RuntimeDep,
    *,
    refused: str | None = None,
    status_code: int = 200,
) -> Response:
    language = staff_language(request)
    timezone = runtime.policies.default.timezone
    with uow() as session:
        listed = service.recent(session)
    return render_staff(
        request,
        "rota/list.html",
        principal=who,
        status_code=status_code,
        rotas=listed,
        territories=_territories(uow, language),
        can_plan=who.role == Role.ADMIN,
        period_days=runtime.policies.default.rota.period_days,
        refused=refused,
        when=lambda moment: local_minute(moment, language, timezone),
    )


@router.post("")
def plan(
    request: Request,
    principal: PagePrincipal,
    uow: UowDep,
    runtime: RuntimeDep,
    csrf: CsrfField = None,
    territory: Annotated[str, Form()] = "",
    first_day: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "",
) -> Response:
    """Plan a draft (the administrator only) and show it."""
    who = _reader(request, principal)
    if isinstance(who, Response):
        return who
    if who.role != Role.ADMIN or not form_allowed(request, csrf):
        return render_staff(request, "forbidden.html", principal=who, status_code=403)
    try:
        body = service.RotaPlanIn.model_validate(
            {"territory": territory, "from": first_day, "days": days.strip() or None}
        )
        with uow() as session:
            made = service.plan(
                session,
                territory=body.territory,
                first_day=body.from_,
                days=body.days,
                time_limit_s=None,
                policies=runtime.policies,
                actor=who.actor,
            )
    except (ValidationError, DomainError):
        return _list(request, who, uow, runtime, refused=REFUSED[422], status_code=422)
    return see_other(f"/rotas/{made.id}")


def _grid(rota: RotaOut, shown: dict[str, RotaLawyerShown], runtime: RuntimeDep) -> list[Day]:
    """Days by slots: who is on duty in each slot, night slots marked."""
    policy = runtime.policies.for_territory(rota.territory)
    zone = ZoneInfo(policy.timezone)
    by_slot: dict[tuple[date, str], list[RotaLawyerShown]] = defaultdict(list)
    nights: dict[str, bool] = {}
    for duty in rota.assignments:
        start = duty.start.astimezone(zone)
        clock = start.strftime("%H:%M")
        nights[clock] = is_night(start, policy.rota)
        by_slot[start.date(), clock].append(shown[duty.lawyer])
    clocks = sorted(nights)
    first = rota.start.astimezone(zone).date()
    last = rota.end.astimezone(zone).date()
    days = []
    day = first
    while day < last or (day == last and any(k[0] == day for k in by_slot)):
        days.append(
            Day(
                day=day,
                weekend=day.weekday() >= 5,
                cells=[
                    Cell(nights[c], by_slot[day, c]) if (day, c) in by_slot else None
                    for c in clocks
                ],
            )
        )
        day = date.fromordinal(day.toordinal() + 1)
    return days


def _show(
    request: Request,
    who: Principal,
    uow: UowDep,
    runtime: RuntimeDep,
    rota_id: str,
    *,
    done: str | None = None,
    refused: str | None = None,
    reason: str | None = None,
    status_code: int = 200,
) -> Response:
    language = staff_language(request)
    try:
        with uow() as session:
            rota = service.read(session, rota_id=rota_id, policies=runtime.policies)
            problems = service.problems_of(session, rota_id=rota_id)
            shown = service.lawyers_of(session, sorted({d.lawyer for d in rota.assignments}))
            firms = [f["firm"] for f in rota.figures["firms"]] if rota.figures else []
            firm_names = service.firm_names(session, firms)
    except NotFound:
        return render_staff(request, "not_found.html", principal=who, status_code=404)
    policy = runtime.policies.for_territory(rota.territory)
    zone = ZoneInfo(policy.timezone)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for duty in rota.assignments:
        start = duty.start.astimezone(zone)
        count = counts[duty.lawyer]
        count[0] += 1
        count[1] += is_night(start, policy.rota)
        count[2] += start.weekday() >= 5
    figures = sorted(
        (LawyerFigure(shown[lic], *c) for lic, c in counts.items()),
        key=lambda f: (f.lawyer.firm, f.lawyer.name),
    )
    firms_on_duty = {s.firm for s in shown.values()}
    clocks = sorted(
        {
            (d.start.astimezone(zone).strftime("%H:%M"), d.end.astimezone(zone).strftime("%H:%M"))
            for d in rota.assignments
        }
    )
    return render_staff(
        request,
        "rota/show.html",
        principal=who,
        status_code=status_code,
        rota=rota,
        territory=dict(_territories(uow, language)).get(rota.territory, rota.territory),
        days=_grid(rota, shown, runtime),
        clocks=clocks,
        lawyer_figures=figures,
        problems=[problem_words(language, p) for p in problems],
        firm_count=len(firms_on_duty),
        can_approve=who.role == Role.ADMIN
        and rota.approval == "draft"
        and rota.status != "infeasible",
        done=DONE.get(done or ""),
        refused=refused,
        reason=reason,
        when=lambda moment: local_minute(moment, language, policy.timezone),
        firm_names=firm_names,
    )


@router.get("/{rota_id}")
def show(
    rota_id: str,
    request: Request,
    principal: PagePrincipal,
    uow: UowDep,
    runtime: RuntimeDep,
    done: str | None = None,
) -> Response:
    """A rota as a calendar grid, with its fairness figures and problems."""
    who = _reader(request, principal)
    if isinstance(who, Response):
        return who
    return _show(request, who, uow, runtime, rota_id, done=done)


@router.post("/{rota_id}/approve")
def approve(
    rota_id: str,
    request: Request,
    principal: PagePrincipal,
    uow: UowDep,
    runtime: RuntimeDep,
    csrf: CsrfField = None,
) -> Response:
    """The administrator approves a draft; a refusal is shown with its reason."""
    who = _reader(request, principal)
    if isinstance(who, Response):
        return who
    if who.role != Role.ADMIN or not form_allowed(request, csrf):
        return render_staff(request, "forbidden.html", principal=who, status_code=403)
    try:
        with uow() as session:
            service.approve(session, rota_id=rota_id, policies=runtime.policies, actor=who.actor)
    except DomainError as error:
        code = error.status_code
        return _show(
            request,
            who,
            uow,
            runtime,
            rota_id,
            refused=REFUSED.get(code, REFUSED[409]),
            reason=(
                refusal_words(staff_language(request), runtime.policies.default.timezone, error)
                if isinstance(error, RotaRefused)
                else str(error.detail)
                if code == 409
                else None
            ),
            status_code=code,
        )
    return see_other(f"/rotas/{rota_id}?done=approved")
