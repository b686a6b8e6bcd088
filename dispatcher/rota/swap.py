"""Duty swaps: a lawyer offers one of their approved duties to a colleague of the same territory;
the duty moves when the colleague accepts and the rota's rules still hold, else the swap is
refused with the rule that would break. Every step is audited; a duty that moves is a registry
change (eligibility reads the approved rotas with the registry's facts), as approval is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from dispatcher import audit, registry_version
from dispatcher.errors import Conflict, Invalid, NotFound
from dispatcher.models import (
    DutySwap,
    Firm,
    FirmTerritory,
    Lawyer,
    LawyerAvailability,
    LawyerTerritory,
    Rota,
    RotaAssignment,
    Territory,
)
from dispatcher.rota.availability import clash_of
from dispatcher.rota.model import is_night
from policies.config import Policy, PolicyBook
from policies.vocabulary import FirmStatus, LawyerStatus, RotaStatus, SwapProblem, SwapStatus


@dataclass(frozen=True)
class Colleague:
    id: int
    licence: str
    name: str
    firm: str


@dataclass(frozen=True)
class Offer:
    """An open offer as the pages show it (to the one offered, or the one who offered)."""

    id: str
    assignment_id: int
    territory: str
    start: datetime
    end: datetime
    night: bool
    weekend: bool
    from_licence: str
    from_name: str
    to_licence: str
    to_name: str


@dataclass(frozen=True)
class _Place:
    assignment: RotaAssignment
    rota: Rota
    territory: Territory
    policy: Policy


def _place(session: Session, assignment_id: int, policies: PolicyBook) -> _Place:
    assignment = session.get(RotaAssignment, assignment_id)
    if assignment is None:
        raise NotFound(f"no duty {assignment_id}")
    rota = session.get(Rota, assignment.rota_id)
    assert rota is not None
    territory = session.get(Territory, rota.territory_id)
    assert territory is not None
    return _Place(assignment, rota, territory, policies.for_territory(territory.code))


def _serves(session: Session, lawyer: Lawyer, territory_id: int) -> bool:
    """Whether the lawyer is active in the territory with an active firm that serves it."""
    found = session.execute(
        select(col(Lawyer.id))
        .join(Firm, col(Firm.id) == Lawyer.firm_id)
        .join(FirmTerritory, col(FirmTerritory.firm_id) == Firm.id)
        .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
        .where(
            col(Lawyer.id) == lawyer.id,
            col(Lawyer.status) == LawyerStatus.ACTIVE,
            col(Firm.status) == FirmStatus.ACTIVE,
            col(FirmTerritory.territory_id) == territory_id,
            col(LawyerTerritory.territory_id) == territory_id,
        )
    ).first()
    return found is not None


def _available(session: Session, lawyer: Lawyer, place: _Place) -> bool:
    limits = list(
        session.execute(
            select(LawyerAvailability).where(col(LawyerAvailability.lawyer_id) == lawyer.id)
        ).scalars()
    )
    a = place.assignment
    start = a.starts_at.astimezone(ZoneInfo(place.policy.timezone))
    night = is_night(start, place.policy.rota)
    return clash_of(limits, a.starts_at, a.ends_at, night, start.weekday() >= 5) is None


def problem_of(
    session: Session, *, place: _Place, colleague: Lawyer, now: datetime
) -> SwapProblem | None:
    """The first rule the duty would break in the colleague's hands, or None when all hold:
    an approved coming duty, the colleague's territory and availability, no overlap with
    their duties anywhere, their rest and weekly cap, and the slot's night languages and
    juvenile cover."""
    a, rota, policy = place.assignment, place.rota, place.policy
    rules = policy.rota
    if rota.status != RotaStatus.APPROVED:
        return SwapProblem.NOT_APPROVED
    if a.starts_at <= now:
        return SwapProblem.PAST
    if not _serves(session, colleague, rota.territory_id):
        return SwapProblem.TERRITORY
    if not _available(session, colleague, place):
        return SwapProblem.AVAILABILITY
    rest = timedelta(hours=rules.rest_hours)
    theirs = session.execute(
        select(
            col(RotaAssignment.rota_id), col(RotaAssignment.starts_at), col(RotaAssignment.ends_at)
        )
        .join(Rota, col(Rota.id) == RotaAssignment.rota_id)
        .where(
            col(RotaAssignment.lawyer_id) == colleague.id,
            col(Rota.status) == RotaStatus.APPROVED,
            col(RotaAssignment.ends_at) > a.starts_at - rest,
            col(RotaAssignment.starts_at) < a.ends_at + rest,
        )
    ).all()
    if any(start < a.ends_at and a.starts_at < end for _, start, end in theirs):
        return SwapProblem.OVERLAP
    if theirs:
        return SwapProblem.REST
    zone = ZoneInfo(policy.timezone)
    first_day = rota.starts_at.astimezone(zone).date()

    def week(at: datetime) -> int:
        return (at.astimezone(zone).date() - first_day).days // 7

    # The weekly cap counts the colleague's approved duties in every territory, in this rota's
    # week of the duty.
    week_starts = rota.starts_at + timedelta(days=7 * week(a.starts_at))
    same_week = session.execute(
        select(col(RotaAssignment.starts_at))
        .join(Rota, col(Rota.id) == RotaAssignment.rota_id)
        .where(
            col(Rota.status) == RotaStatus.APPROVED,
            col(RotaAssignment.lawyer_id) == colleague.id,
            col(RotaAssignment.starts_at) >= week_starts - timedelta(days=1),
            col(RotaAssignment.starts_at) < week_starts + timedelta(days=8),
        )
    ).all()
    if sum(1 for (start,) in same_week if week(start) == week(a.starts_at)) >= rules.weekly_cap:
        return SwapProblem.WEEKLY_CAP
    others = list(
        session.execute(
            select(Lawyer)
            .join(RotaAssignment, col(RotaAssignment.lawyer_id) == Lawyer.id)
            .where(
                col(RotaAssignment.rota_id) == rota.id,
                col(RotaAssignment.starts_at) == a.starts_at,
                col(RotaAssignment.id) != a.id,
            )
        ).scalars()
    )
    on_duty = [*others, colleague]
    if is_night(a.starts_at.astimezone(zone), rules):
        for language in rules.night_languages:
            if not any(language in lw.languages for lw in on_duty):
                return SwapProblem.LANGUAGE
    juvenile = policy.eligibility.juvenile_specialisation
    if rules.juvenile_each_slot and not any(juvenile in lw.specialisations for lw in on_duty):
        return SwapProblem.JUVENILE
    return None


def colleagues(
    session: Session, *, lawyer: Lawyer, assignment_id: int, policies: PolicyBook
) -> list[Colleague]:
    """The colleagues of the duty's territory who could be offered it (active, serving the
    territory, free by their own availability)."""
    place = _place(session, assignment_id, policies)
    rows = session.execute(
        select(Lawyer, col(Firm.name))
        .join(Firm, col(Firm.id) == Lawyer.firm_id)
        .join(FirmTerritory, col(FirmTerritory.firm_id) == Firm.id)
        .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
        .where(
            col(Lawyer.id) != lawyer.id,
            col(Lawyer.status) == LawyerStatus.ACTIVE,
            col(Firm.status) == FirmStatus.ACTIVE,
            col(FirmTerritory.territory_id) == place.rota.territory_id,
            col(LawyerTerritory.territory_id) == place.rota.territory_id,
        )
        .order_by(col(Lawyer.name))
    ).all()
    return [
        Colleague(id=lw.id, licence=lw.licence, name=lw.name, firm=firm)
        for lw, firm in rows
        if lw.id is not None and _available(session, lw, place)
    ]


def offer(
    session: Session,
    *,
    lawyer: Lawyer,
    assignment_id: int,
    colleague: str,
    policies: PolicyBook,
    now: datetime,
    actor: str,
) -> DutySwap:
    """Offer one of the lawyer's coming approved duties to a colleague (by licence) who serves
    its territory and is free by their own availability. One open offer per duty."""
    place = _place(session, assignment_id, policies)
    if place.assignment.lawyer_id != lawyer.id:
        raise NotFound(f"no duty {assignment_id} of this lawyer")
    to = session.execute(select(Lawyer).where(col(Lawyer.licence) == colleague)).scalars().first()
    if to is None or to.id == lawyer.id:
        raise Invalid("colleague", f"no colleague {colleague}")
    if place.rota.status != RotaStatus.APPROVED or place.assignment.starts_at <= now:
        raise Conflict("only a coming duty of an approved rota can be offered")
    if not _serves(session, to, place.rota.territory_id) or not _available(session, to, place):
        raise Invalid("colleague", f"{colleague} cannot take a duty in this territory then")
    open_offer = session.execute(
        select(col(DutySwap.id)).where(
            col(DutySwap.assignment_id) == assignment_id,
            col(DutySwap.status) == SwapStatus.OFFERED,
        )
    ).first()
    if open_offer is not None:
        raise Conflict("this duty is already offered")
    assert to.id is not None and lawyer.id is not None
    swap = DutySwap(assignment_id=assignment_id, from_lawyer_id=lawyer.id, to_lawyer_id=to.id)
    session.add(swap)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="duty_offered",
        entity_type="duty_swap",
        entity_id=swap.id,
        payload={"duty": assignment_id, "from": lawyer.licence, "to": to.licence},
    )
    return swap


def _open_swap(session: Session, swap_id: str, lawyer: Lawyer, *, offered_by: bool) -> DutySwap:
    swap = session.get(DutySwap, swap_id, with_for_update=True)
    mine = swap is not None and (
        swap.from_lawyer_id == lawyer.id if offered_by else swap.to_lawyer_id == lawyer.id
    )
    if swap is None or not mine:
        raise NotFound(f"no offer {swap_id} for this lawyer")
    if swap.status != SwapStatus.OFFERED:
        raise Conflict(f"the offer {swap_id} is already {swap.status}")
    return swap


def answer(
    session: Session,
    *,
    lawyer: Lawyer,
    swap_id: str,
    accept: bool,
    policies: PolicyBook,
    now: datetime,
    actor: str,
) -> DutySwap:
    """The colleague's answer. Accepted, the duty becomes theirs if the rota's rules still
    hold; else the offer is refused with the rule (`problem`) and the duty stays."""
    swap = _open_swap(session, swap_id, lawyer, offered_by=False)
    swap.answered_at = now
    place = _place(session, swap.assignment_id, policies)
    payload: dict[str, object] = {"duty": swap.assignment_id, "to": lawyer.licence}
    if not accept:
        swap.status = SwapStatus.DECLINED
        action = "duty_swap_declined"
    elif place.assignment.lawyer_id != swap.from_lawyer_id:
        # The duty left the offerer's hands since (another swap): nothing to take over.
        swap.status = SwapStatus.REFUSED
        swap.problem = SwapProblem.NOT_APPROVED
        action = "duty_swap_refused"
        payload["problem"] = swap.problem
    elif (problem := problem_of(session, place=place, colleague=lawyer, now=now)) is not None:
        swap.status = SwapStatus.REFUSED
        swap.problem = problem
        action = "duty_swap_refused"
        payload["problem"] = problem
    else:
        swap.status = SwapStatus.ACCEPTED
        assert lawyer.id is not None
        place.assignment.lawyer_id = lawyer.id
        action = "duty_swapped"
        payload |= {
            "rota": place.rota.id,
            "start": place.assignment.starts_at.isoformat(),
            "end": place.assignment.ends_at.isoformat(),
        }
        # Who is on duty is read with the registry's facts: they change with it.
        registry_version.bump(session)
    audit.record(
        session,
        actor=actor,
        action=action,
        entity_type="duty_swap",
        entity_id=swap.id,
        payload=payload,
    )
    session.flush()
    return swap


def withdraw(session: Session, *, lawyer: Lawyer, swap_id: str, now: datetime, actor: str) -> None:
    """The one who offered takes the offer back while it is open."""
    swap = _open_swap(session, swap_id, lawyer, offered_by=True)
    swap.status = SwapStatus.WITHDRAWN
    swap.answered_at = now
    audit.record(
        session,
        actor=actor,
        action="duty_swap_withdrawn",
        entity_type="duty_swap",
        entity_id=swap.id,
        payload={"duty": swap.assignment_id},
    )
    session.flush()


def open_offers(
    session: Session, *, lawyer: Lawyer, policies: PolicyBook, to_me: bool
) -> list[Offer]:
    """The open offers made to the lawyer (`to_me`) or by them."""
    column = DutySwap.to_lawyer_id if to_me else DutySwap.from_lawyer_id
    swaps = list(
        session.execute(
            select(DutySwap)
            .where(col(column) == lawyer.id, col(DutySwap.status) == SwapStatus.OFFERED)
            .order_by(col(DutySwap.created_at))
        ).scalars()
    )
    found = []
    for swap in swaps:
        place = _place(session, swap.assignment_id, policies)
        giver = session.get(Lawyer, swap.from_lawyer_id)
        taker = session.get(Lawyer, swap.to_lawyer_id)
        assert giver is not None and taker is not None
        zone = ZoneInfo(place.policy.timezone)
        start = place.assignment.starts_at.astimezone(zone)
        found.append(
            Offer(
                id=swap.id,
                assignment_id=swap.assignment_id,
                territory=place.territory.code,
                start=start,
                end=place.assignment.ends_at.astimezone(zone),
                night=is_night(start, place.policy.rota),
                weekend=start.weekday() >= 5,
                from_licence=giver.licence,
                from_name=giver.name,
                to_licence=taker.licence,
                to_name=taker.name,
            )
        )
    return found
