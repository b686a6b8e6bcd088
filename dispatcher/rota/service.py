"""Duty rotas in the database: plan a draft, read it, approve it (a registry change).

Services take keyword arguments and never commit: the unit of work commits at the edge.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session, col

from dispatcher import audit, registry_version
from dispatcher.db import utcnow
from dispatcher.errors import Conflict, Invalid, NotFound
from dispatcher.models import (
    Firm,
    FirmTerritory,
    Lawyer,
    LawyerAvailability,
    LawyerTerritory,
    Rota,
    RotaAssignment,
    Territory,
)
from dispatcher.rota.model import (
    Figures,
    ProblemValue,
    RotaInput,
    RotaLawyer,
    SolverSettings,
    make_slots,
    over_weekly_cap,
    solve,
)
from policies.config import Policy, PolicyBook
from policies.vocabulary import (
    AvailabilityKind,
    FirmStatus,
    LawyerStatus,
    RotaOutcome,
    RotaPart,
    RotaProblem,
    RotaRefusal,
    RotaStatus,
)


class RotaRefused(Conflict):
    """A draft that cannot be approved: the English detail of the API and the CLI, with a key
    and values from which a page says it in its reader's language."""

    def __init__(self, key: RotaRefusal, **values: str) -> None:
        self.key = key
        self.values = values
        super().__init__(refusal_text(key, values))


def refusal_text(key: RotaRefusal, values: dict[str, str]) -> str:
    match key:
        case RotaRefusal.ALREADY_APPROVED:
            return f"rota {values['rota']} is already approved"
        case RotaRefusal.INFEASIBLE:
            return f"rota {values['rota']} is infeasible: {values['problems']}"
        case RotaRefusal.OVERLAPS:
            return f"rota {values['other']} of the same territory is approved for that period"
        case RotaRefusal.ON_DUTY_ELSEWHERE:
            return (
                f"lawyer {values['lawyer']} is on duty in another territory from "
                f"{values['start']} to {values['end']}"
            )
        case RotaRefusal.OVER_WEEKLY_CAP:
            return (
                f"lawyer {values['lawyer']} would serve {values['duties']} duties in week "
                f"{values['week']} of the rota over every territory, above the weekly cap of "
                f"{values['cap']}"
            )


class PartShown(BaseModel):
    key: RotaPart
    values: dict[str, ProblemValue]


class ProblemShown(BaseModel):
    """A rota's problem as a page says it: its key and values (`dispatcher.rota.model.Problem`);
    a problem kept before problems had keys has only its English `text`."""

    text: str
    key: RotaProblem | None = None
    values: dict[str, ProblemValue] = Field(default_factory=dict)
    subjects: list[PartShown] = Field(default_factory=list)
    limits: list[PartShown] = Field(default_factory=list)


def _problem_texts(stored: list[str | dict[str, Any]]) -> list[str]:
    """The English of a rota's kept problems (the CLI's and the API's `problems`)."""
    return [item if isinstance(item, str) else str(item["text"]) for item in stored]


def problems_shown(stored: list[str | dict[str, Any]]) -> list[ProblemShown]:
    """A rota's kept problems with their keys and values, for the pages."""
    return [
        ProblemShown(text=item) if isinstance(item, str) else ProblemShown.model_validate(item)
        for item in stored
    ]


class RotaPlanIn(BaseModel):
    """What the administrator asks to plan."""

    territory: str = Field(min_length=1, max_length=16)
    from_: date = Field(alias="from")
    days: int | None = Field(default=None, gt=0, le=366)
    time_limit_s: float | None = Field(default=None, gt=0, le=600)


class DutyOut(BaseModel):
    lawyer: str
    start: datetime
    end: datetime


class RotaOut(BaseModel):
    """A rota as the CLI and the API give it (times ISO 8601 with the territory's offset)."""

    id: str
    territory: str
    status: RotaOutcome
    approval: RotaStatus
    start: datetime
    end: datetime
    solve_s: float
    assignments: list[DutyOut]
    figures: Figures | None
    problems: list[str]
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None


def _territory(session: Session, code: str) -> Territory:
    found: Territory | None = (
        session.execute(select(Territory).where(col(Territory.code) == code)).scalars().first()
    )
    if found is None:
        raise Invalid("territory", f"no territory {code}")
    return found


def _duties_elsewhere(
    session: Session, lawyer_ids: list[int], territory_id: int, start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """Each lawyer's approved duties in other territories around the period."""
    rows = session.execute(
        select(
            col(RotaAssignment.lawyer_id),
            col(RotaAssignment.starts_at),
            col(RotaAssignment.ends_at),
        )
        .join(Rota, col(Rota.id) == RotaAssignment.rota_id)
        .where(
            col(Rota.status) == RotaStatus.APPROVED,
            col(Rota.territory_id) != territory_id,
            col(RotaAssignment.lawyer_id).in_(lawyer_ids),
            col(RotaAssignment.ends_at) > start,
            col(RotaAssignment.starts_at) < end,
        )
    ).all()
    found: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for lawyer_id, starts, ends in rows:
        found[lawyer_id].append((starts, ends))
    return found


def rota_input(
    session: Session, *, territory: Territory, first_day: date, days: int, policy: Policy
) -> tuple[RotaInput, dict[str, int]]:
    """The planner's input for a territory and period, and the lawyers' ids by licence."""
    assert territory.id is not None
    slots = make_slots(first_day, days, policy.timezone, policy.rota)
    rows = session.execute(
        select(
            col(Lawyer.id),
            col(Lawyer.licence),
            col(Firm.code),
            col(Lawyer.languages),
            col(Lawyer.specialisations),
        )
        .join(Firm, col(Firm.id) == Lawyer.firm_id)
        .join(FirmTerritory, col(FirmTerritory.firm_id) == Firm.id)
        .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
        .where(
            col(FirmTerritory.territory_id) == territory.id,
            col(LawyerTerritory.territory_id) == territory.id,
            col(Lawyer.status) == LawyerStatus.ACTIVE,
            col(Firm.status) == FirmStatus.ACTIVE,
        )
        .order_by(col(Lawyer.licence))
    ).all()
    ids = {row[1]: row[0] for row in rows}
    start, end = slots[0].start, slots[-1].end
    rest = timedelta(hours=policy.rota.rest_hours)
    elsewhere = _duties_elsewhere(
        session, list(ids.values()), territory.id, start - rest, end + rest
    )
    limits: dict[int, list[LawyerAvailability]] = defaultdict(list)
    for limit in session.execute(
        select(LawyerAvailability).where(col(LawyerAvailability.lawyer_id).in_(list(ids.values())))
    ).scalars():
        limits[limit.lawyer_id].append(limit)
    lawyers = []
    for lawyer_id, licence, firm, languages, specialisations in rows:
        own = limits.get(lawyer_id, [])
        lawyers.append(
            RotaLawyer(
                licence=licence,
                firm=firm,
                languages=frozenset(languages),
                juvenile=policy.eligibility.juvenile_specialisation in specialisations,
                leave=tuple(
                    (a.starts_at, a.ends_at)
                    for a in own
                    if a.kind == AvailabilityKind.LEAVE and a.starts_at and a.ends_at
                ),
                elsewhere=tuple(elsewhere.get(lawyer_id, ())),
                no_nights=any(a.kind == AvailabilityKind.NO_NIGHTS for a in own),
                no_weekends=any(a.kind == AvailabilityKind.NO_WEEKENDS for a in own),
            )
        )
    weights: dict[str, int] = defaultdict(int)
    for lawyer in lawyers:
        weights[lawyer.firm] = 1 if policy.rotation.weight == "equal" else weights[lawyer.firm] + 1
    data = RotaInput(
        territory=territory.code,
        slots=slots,
        lawyers=tuple(lawyers),
        firm_weights=dict(weights),
        night_languages=tuple(policy.rota.night_languages),
        juvenile_each_slot=policy.rota.juvenile_each_slot,
        rest_hours=policy.rota.rest_hours,
        weekly_cap=policy.rota.weekly_cap,
    )
    return data, ids


def plan(
    session: Session,
    *,
    territory: str,
    first_day: date,
    days: int | None,
    time_limit_s: float | None,
    policies: PolicyBook,
    actor: str,
) -> RotaOut:
    """Plan a territory's rota and keep it as a draft (an infeasible one too, with its
    reasons)."""
    place = _territory(session, territory)
    policy = policies.for_territory(territory)
    period_days = days or policy.rota.period_days
    data, ids = rota_input(
        session, territory=place, first_day=first_day, days=period_days, policy=policy
    )
    settings = SolverSettings(
        time_limit_s=time_limit_s or policy.rota.time_limit_s,
        num_workers=policy.rota.num_workers,
        presolve=policy.rota.presolve,
    )
    made = solve(data, settings)
    assert place.id is not None
    rota = Rota(
        territory_id=place.id,
        starts_at=data.slots[0].start.astimezone(UTC),
        ends_at=data.slots[-1].end.astimezone(UTC),
        outcome=made.status,
        solve_s=made.solve_s,
        figures=dict(made.figures) if made.figures else {},
        problems=[p.as_json() for p in made.problems],
        policy_version=policy.version,
        created_by=actor,
    )
    session.add(rota)
    session.flush()
    session.add_all(
        RotaAssignment(
            rota_id=rota.id,
            lawyer_id=ids[licence],
            starts_at=slot.start.astimezone(UTC),
            ends_at=slot.end.astimezone(UTC),
        )
        for licence, slot in made.assignments
    )
    audit.record(
        session,
        actor=actor,
        action="rota_planned",
        entity_type="rota",
        entity_id=rota.id,
        payload={
            "territory": territory,
            "from": first_day.isoformat(),
            "days": period_days,
            "outcome": made.status,
            "duties": len(made.assignments),
        },
    )
    session.flush()
    return read(session, rota_id=rota.id, policies=policies)


def _rota(session: Session, rota_id: str) -> Rota:
    found = session.get(Rota, rota_id)
    if found is None:
        raise NotFound(f"no rota {rota_id}")
    return found


def read(session: Session, *, rota_id: str, policies: PolicyBook) -> RotaOut:
    """A rota with its duties, in the territory's local time."""
    rota = _rota(session, rota_id)
    territory = session.get(Territory, rota.territory_id)
    assert territory is not None
    zone = ZoneInfo(policies.for_territory(territory.code).timezone)
    duties = session.execute(
        select(col(Lawyer.licence), col(RotaAssignment.starts_at), col(RotaAssignment.ends_at))
        .join(Lawyer, col(Lawyer.id) == RotaAssignment.lawyer_id)
        .where(col(RotaAssignment.rota_id) == rota.id)
        .order_by(col(RotaAssignment.starts_at), col(Lawyer.licence))
    ).all()
    return RotaOut(
        id=rota.id,
        territory=territory.code,
        status=RotaOutcome(rota.outcome),
        approval=RotaStatus(rota.status),
        start=rota.starts_at.astimezone(zone),
        end=rota.ends_at.astimezone(zone),
        solve_s=rota.solve_s,
        assignments=[
            DutyOut(lawyer=licence, start=start.astimezone(zone), end=end.astimezone(zone))
            for licence, start, end in duties
        ],
        figures=Figures(**rota.figures) if rota.figures else None,  # type: ignore[typeddict-item]
        problems=_problem_texts(rota.problems),
        created_by=rota.created_by,
        created_at=rota.created_at,
        approved_by=rota.approved_by,
        approved_at=rota.approved_at,
    )


def approve(session: Session, *, rota_id: str, policies: PolicyBook, actor: str) -> RotaOut:
    """Approve a draft: from now on it rules who is eligible for detentions in its period.

    Refused (409) for an infeasible or already approved rota, one overlapping another
    approved rota of its territory, or one putting a lawyer on duty at once (or within the
    rest) with an approved duty in another territory, or above the weekly cap over every
    territory (rotas approved elsewhere since this one was planned).
    """
    rota = session.get(Rota, rota_id, with_for_update=True)
    if rota is None:
        raise NotFound(f"no rota {rota_id}")
    if rota.status == RotaStatus.APPROVED:
        raise RotaRefused(RotaRefusal.ALREADY_APPROVED, rota=rota_id)
    if rota.outcome == RotaOutcome.INFEASIBLE:
        raise RotaRefused(
            RotaRefusal.INFEASIBLE, rota=rota_id, problems="; ".join(_problem_texts(rota.problems))
        )
    overlapping = session.execute(
        select(col(Rota.id)).where(
            col(Rota.territory_id) == rota.territory_id,
            col(Rota.status) == RotaStatus.APPROVED,
            col(Rota.starts_at) < rota.ends_at,
            col(Rota.ends_at) > rota.starts_at,
        )
    ).first()
    if overlapping is not None:
        raise RotaRefused(RotaRefusal.OVERLAPS, rota=rota_id, other=str(overlapping[0]))
    territory = session.get(Territory, rota.territory_id)
    assert territory is not None
    rest = timedelta(hours=policies.for_territory(territory.code).rota.rest_hours)
    mine = session.execute(
        select(
            col(RotaAssignment.lawyer_id),
            col(RotaAssignment.starts_at),
            col(RotaAssignment.ends_at),
        ).where(col(RotaAssignment.rota_id) == rota.id)
    ).all()
    elsewhere = _duties_elsewhere(
        session,
        sorted({m[0] for m in mine}),
        rota.territory_id,
        rota.starts_at - rest,
        rota.ends_at + rest,
    )
    for lawyer_id, start, end in mine:
        for a, b in elsewhere.get(lawyer_id, ()):
            if start < b + rest and a < end + rest:
                lawyer = session.get(Lawyer, lawyer_id)
                raise RotaRefused(
                    RotaRefusal.ON_DUTY_ELSEWHERE,
                    rota=rota_id,
                    lawyer=lawyer.licence if lawyer else str(lawyer_id),
                    start=a.isoformat(),
                    end=b.isoformat(),
                )
    cap = policies.for_territory(territory.code).rota.weekly_cap
    here = [(lawyer_id, start) for lawyer_id, start, _end in mine]
    crowded = over_weekly_cap(rota.starts_at, rota.ends_at, here, elsewhere, cap)
    if crowded is not None:
        lawyer_id, week, duties = crowded
        lawyer = session.get(Lawyer, lawyer_id)
        raise RotaRefused(
            RotaRefusal.OVER_WEEKLY_CAP,
            rota=rota_id,
            lawyer=lawyer.licence if lawyer else str(lawyer_id),
            week=str(week + 1),
            duties=str(duties),
            cap=str(cap),
        )
    rota.status = RotaStatus.APPROVED
    rota.approved_by = actor
    rota.approved_at = utcnow()
    # Eligibility reads the approved rotas with the registry's facts: they change with it.
    registry_version.bump(session)
    audit.record(
        session,
        actor=actor,
        action="rota_approved",
        entity_type="rota",
        entity_id=rota.id,
        payload={
            "territory": territory.code,
            "start": rota.starts_at.isoformat(),
            "end": rota.ends_at.isoformat(),
            "duties": len(mine),
        },
    )
    session.flush()
    return read(session, rota_id=rota.id, policies=policies)


class RotaListed(BaseModel):
    """A rota as a list shows it (times in UTC)."""

    id: str
    territory: str
    status: RotaOutcome
    approval: RotaStatus
    start: datetime
    end: datetime
    created_at: datetime


def recent(session: Session, *, limit: int = 50) -> list[RotaListed]:
    """The latest rotas, newest first."""
    rows = session.execute(
        select(Rota, col(Territory.code))
        .join(Territory, col(Territory.id) == Rota.territory_id)
        .order_by(col(Rota.created_at).desc())
        .limit(limit)
    ).all()
    return [
        RotaListed(
            id=rota.id,
            territory=code,
            status=RotaOutcome(rota.outcome),
            approval=RotaStatus(rota.status),
            start=rota.starts_at,
            end=rota.ends_at,
            created_at=rota.created_at,
        )
        for rota, code in rows
    ]


class RotaLawyerShown(BaseModel):
    licence: str
    name: str
    firm: str


def lawyers_of(session: Session, licences: list[str]) -> dict[str, RotaLawyerShown]:
    """The named lawyers with their firms' names, by licence."""
    rows = session.execute(
        select(col(Lawyer.licence), col(Lawyer.name), col(Firm.name))
        .join(Firm, col(Firm.id) == Lawyer.firm_id)
        .where(col(Lawyer.licence).in_(licences))
    ).all()
    return {lic: RotaLawyerShown(licence=lic, name=name, firm=firm) for lic, name, firm in rows}


def firm_names(session: Session, codes: list[str]) -> dict[str, str]:
    """The firms' names by code."""
    rows = session.execute(
        select(col(Firm.code), col(Firm.name)).where(col(Firm.code).in_(codes))
    ).all()
    return {code: name for code, name in rows}


def problems_of(session: Session, *, rota_id: str) -> list[ProblemShown]:
    """A rota's problems with their keys and values (the pages say them from these)."""
    return problems_shown(_rota(session, rota_id).problems)
