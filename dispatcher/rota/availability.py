"""A lawyer's side of the rotas: their coming duties, and their own availability (leave, no
nights, no weekends) that the next plan respects.

An approved rota is never changed by availability recorded after it: a duty that now clashes
is shown as such, and the lawyer may offer it to a colleague (dispatcher/rota/swap.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session, col

from dispatcher import audit
from dispatcher.errors import Invalid, NotFound
from dispatcher.models import (
    DutySwap,
    Lawyer,
    LawyerAvailability,
    Rota,
    RotaAssignment,
    Territory,
)
from dispatcher.rota.model import is_night
from policies.config import PolicyBook
from policies.vocabulary import AvailabilityKind, RotaStatus, SwapStatus

# The longest leave one entry may hold: a typing slip (2207 for 2027) is refused, not kept.
MAX_LEAVE_DAYS = 366


@dataclass(frozen=True)
class Leave:
    id: int
    first: date
    last: date


@dataclass(frozen=True)
class Availability:
    """What the lawyer has recorded: leave by dates (inclusive), and the opt-outs."""

    leave: tuple[Leave, ...]
    no_nights: bool
    no_weekends: bool


@dataclass(frozen=True)
class Duty:
    """One coming duty of an approved rota, in its territory's local time."""

    assignment_id: int
    rota_id: str
    territory: str
    start: datetime
    end: datetime
    night: bool
    weekend: bool
    # The availability it clashes with (recorded after the rota was approved), if any.
    clash: AvailabilityKind | None
    # The open offer of this duty to a colleague (the colleague's licence), if any.
    offered_to: str | None


def _rows(session: Session, lawyer: Lawyer) -> list[LawyerAvailability]:
    return list(
        session.execute(
            select(LawyerAvailability)
            .where(col(LawyerAvailability.lawyer_id) == lawyer.id)
            .order_by(col(LawyerAvailability.starts_at))
        ).scalars()
    )


def read(session: Session, *, lawyer: Lawyer, timezone: str) -> Availability:
    """The lawyer's recorded availability, leave as local dates."""
    zone = ZoneInfo(timezone)
    rows = _rows(session, lawyer)
    leave = tuple(
        Leave(
            id=row.id,
            first=row.starts_at.astimezone(zone).date(),
            last=(row.ends_at.astimezone(zone) - timedelta(seconds=1)).date(),
        )
        for row in rows
        if row.kind == AvailabilityKind.LEAVE and row.id and row.starts_at and row.ends_at
    )
    kinds = {row.kind for row in rows}
    return Availability(
        leave=leave,
        no_nights=AvailabilityKind.NO_NIGHTS in kinds,
        no_weekends=AvailabilityKind.NO_WEEKENDS in kinds,
    )


def add_leave(
    session: Session, *, lawyer: Lawyer, first: date, last: date, timezone: str, actor: str
) -> LawyerAvailability:
    """Record leave from the start of `first` to the end of `last` (local dates)."""
    if last < first:
        raise Invalid("last", "the leave ends before it begins")
    if (last - first).days >= MAX_LEAVE_DAYS:
        raise Invalid("last", f"one entry of leave holds at most {MAX_LEAVE_DAYS} days")
    zone = ZoneInfo(timezone)
    assert lawyer.id is not None
    row = LawyerAvailability(
        lawyer_id=lawyer.id,
        kind=AvailabilityKind.LEAVE,
        starts_at=datetime.combine(first, time(), zone),
        ends_at=datetime.combine(last + timedelta(days=1), time(), zone),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="leave_recorded",
        entity_type="lawyer",
        entity_id=lawyer.licence,
        payload={"first": first.isoformat(), "last": last.isoformat()},
    )
    return row


def remove_leave(session: Session, *, lawyer: Lawyer, leave_id: int, actor: str) -> None:
    """Remove one of the lawyer's own entries of leave."""
    row = session.get(LawyerAvailability, leave_id)
    if row is None or row.lawyer_id != lawyer.id or row.kind != AvailabilityKind.LEAVE:
        raise NotFound(f"no leave {leave_id} of this lawyer")
    session.delete(row)
    audit.record(
        session,
        actor=actor,
        action="leave_removed",
        entity_type="lawyer",
        entity_id=lawyer.licence,
        payload={"leave": leave_id},
    )
    session.flush()


def set_opt_outs(
    session: Session, *, lawyer: Lawyer, no_nights: bool, no_weekends: bool, actor: str
) -> None:
    """Opt out of (or back into) night and weekend duties in the next plans."""
    wanted = {AvailabilityKind.NO_NIGHTS: no_nights, AvailabilityKind.NO_WEEKENDS: no_weekends}
    rows = _rows(session, lawyer)
    assert lawyer.id is not None
    for kind, on in wanted.items():
        present = [row for row in rows if row.kind == kind]
        if on and not present:
            session.add(LawyerAvailability(lawyer_id=lawyer.id, kind=kind))
        if not on:
            for row in present:
                session.delete(row)
    audit.record(
        session,
        actor=actor,
        action="availability_changed",
        entity_type="lawyer",
        entity_id=lawyer.licence,
        payload={"no_nights": no_nights, "no_weekends": no_weekends},
    )
    session.flush()


def coming_duties(
    session: Session, *, lawyer: Lawyer, policies: PolicyBook, now: datetime
) -> list[Duty]:
    """The lawyer's duties of approved rotas that have not ended, each with what it clashes
    with and its open offer."""
    rows = session.execute(
        select(RotaAssignment, col(Territory.code))
        .join(Rota, col(Rota.id) == RotaAssignment.rota_id)
        .join(Territory, col(Territory.id) == Rota.territory_id)
        .where(
            col(RotaAssignment.lawyer_id) == lawyer.id,
            col(Rota.status) == RotaStatus.APPROVED,
            col(RotaAssignment.ends_at) > now,
        )
        .order_by(col(RotaAssignment.starts_at))
    ).all()
    offers = dict(
        session.execute(
            select(col(DutySwap.assignment_id), col(Lawyer.licence))
            .join(Lawyer, col(Lawyer.id) == DutySwap.to_lawyer_id)
            .where(
                col(DutySwap.from_lawyer_id) == lawyer.id,
                col(DutySwap.status) == SwapStatus.OFFERED,
            )
        ).all()
    )
    limits = _rows(session, lawyer)
    duties = []
    for assignment, territory in rows:
        policy = policies.for_territory(territory)
        zone = ZoneInfo(policy.timezone)
        start = assignment.starts_at.astimezone(zone)
        night = is_night(start, policy.rota)
        weekend = start.weekday() >= 5
        assert assignment.id is not None
        duties.append(
            Duty(
                assignment_id=assignment.id,
                rota_id=assignment.rota_id,
                territory=territory,
                start=start,
                end=assignment.ends_at.astimezone(zone),
                night=night,
                weekend=weekend,
                clash=clash_of(limits, assignment.starts_at, assignment.ends_at, night, weekend),
                offered_to=offers.get(assignment.id),
            )
        )
    return duties


def clash_of(
    limits: list[LawyerAvailability], start: datetime, end: datetime, night: bool, weekend: bool
) -> AvailabilityKind | None:
    """The first of a lawyer's limits a duty from `start` to `end` breaks, if any."""
    for limit in limits:
        if limit.kind == AvailabilityKind.LEAVE and limit.starts_at and limit.ends_at:
            if start < limit.ends_at and limit.starts_at < end:
                return AvailabilityKind.LEAVE
        elif limit.kind == AvailabilityKind.NO_NIGHTS and night:
            return AvailabilityKind.NO_NIGHTS
        elif limit.kind == AvailabilityKind.NO_WEEKENDS and weekend:
            return AvailabilityKind.NO_WEEKENDS
    return None
