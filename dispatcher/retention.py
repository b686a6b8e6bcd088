"""Personal data retention: a person's name, the own counsel's name and the contact to call are
kept for the policy's years after the request ends (`[retention] personal_data_years`), then
erased.

A request ends when its appointment is closed, or when it ends without one (`unfilled`,
`cancelled`, `private_counsel`, its last change being the end); a request still awaiting a
choice, inviting or with an open appointment has not ended and keeps its data. Erasing empties
`request.person_name` (the column holds a name for every request, so the empty text, with
`personal_data_erased_at` set, stands for "erased"), clears the contact and the choice's own
counsel; everything else (case number, territory, statuses, decisions, the chain) stays, and
the pages and the API say "erased" where the name was.

The audit chain holds none of these values, only keyed hashes of them (see `audit`), so it
verifies after an erasure as before; the erasure itself is one audit event with counts and
cut-offs, no personal data. `erase_expired` runs in the caller's transaction and is
idempotent: a request already erased is never counted again, and a run that finds nothing to
erase writes nothing. It runs nightly on the active scheduler (leader only) and from
`dispatcher retention run [--now ISO]`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typing_extensions import TypedDict

from dispatcher import audit
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Appointment, Choice, Request, Territory
from policies.config import PolicyBook
from policies.vocabulary import RequestStatus

ACTOR = "system:retention"
ACTION = "retention.erased"
# What a page or an answer shows where an erased value was.
ERASED = "erased"
# Requests ended without an appointment; an assigned request ends when its appointment closes.
_ENDED_WITHOUT_APPOINTMENT = (
    RequestStatus.UNFILLED,
    RequestStatus.CANCELLED,
    RequestStatus.PRIVATE_COUNSEL,
)
_has_phone = col(Request.contact_phone).isnot(None)
# Ids per UPDATE: well under every backend's limit of bound parameters.
_CHUNK = 500


class ErasureAnswer(TypedDict):
    requests: int
    contacts: int
    own_counsel: int
    cutoffs: dict[str, str]
    audit_seq: int | None


@dataclass(frozen=True)
class Erasure:
    """What one run erased: requests whose name went, and among them contacts and own counsel."""

    requests: int
    contacts: int
    own_counsel: int
    cutoffs: dict[str, str]
    audit_seq: int | None

    def as_dict(self) -> ErasureAnswer:
        return {
            "requests": self.requests,
            "contacts": self.contacts,
            "own_counsel": self.own_counsel,
            "cutoffs": self.cutoffs,
            "audit_seq": self.audit_seq,
        }


def cutoff(now: datetime, years: int) -> datetime:
    """`years` calendar years before `now` (29 February falls back to the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def _territories_by_period(session: Session, policies: PolicyBook) -> dict[int, list[int]]:
    """Territory ids grouped by their retention years (a territory's policy may differ)."""
    grouped: dict[int, list[int]] = defaultdict(list)
    for territory_id, code in session.exec(select(Territory.id, Territory.code)).all():
        assert territory_id is not None
        grouped[policies.for_territory(code).retention.personal_data_years].append(territory_id)
    return grouped


def _expired(territory_ids: Sequence[int], before: datetime) -> Any:
    """Requests of these territories that ended before `before` and are not yet erased."""
    closed_before = select(Appointment.request_id).where(col(Appointment.closed_at) < before)
    open_or_recent = select(Appointment.request_id).where(
        or_(col(Appointment.closed_at).is_(None), col(Appointment.closed_at) >= before)
    )
    return select(Request.id).where(
        col(Request.personal_data_erased_at).is_(None),
        col(Request.territory_id).in_(territory_ids),
        or_(
            and_(
                col(Request.status).in_(_ENDED_WITHOUT_APPOINTMENT),
                col(Request.updated_at) < before,
            ),
            and_(col(Request.status) == RequestStatus.ASSIGNED, col(Request.id).in_(closed_before)),
        ),
        col(Request.id).notin_(open_or_recent),
    )


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def erase_expired(
    session: Session, *, policies: PolicyBook, now: datetime | None = None
) -> Erasure:
    """Erase the personal data of every request that ended more than its territory's retention
    period before `now` (default: the present), in the caller's transaction; audited once."""
    at = (now or utcnow()).astimezone(UTC)
    requests = contacts = own_counsel = 0
    cutoffs: dict[str, str] = {}
    for years, territory_ids in sorted(_territories_by_period(session, policies).items()):
        before = cutoff(at, years)
        cutoffs[str(years)] = before.isoformat()
        ids = list(session.exec(_expired(territory_ids, before)).all())
        for chunk in _chunks(ids):
            unerased = and_(
                col(Request.id).in_(chunk), col(Request.personal_data_erased_at).is_(None)
            )
            contacts += _rowcount(
                session,
                update(Request)
                .where(unerased)
                .where(
                    or_(
                        col(Request.contact_name).isnot(None),
                        col(Request.contact_phone).isnot(None),
                    )
                )
                .values(contact_name=None, contact_phone=None),
            )
            own_counsel += _rowcount(
                session,
                update(Choice)
                .where(col(Choice.request_id).in_(chunk), col(Choice.own_counsel).isnot(None))
                .values(own_counsel=None),
            )
            requests += _rowcount(
                session,
                update(Request)
                .where(unerased)
                .values(person_name="", contact_name=None, personal_data_erased_at=at),
            )
    if not requests and not contacts and not own_counsel:
        return Erasure(0, 0, 0, cutoffs, None)
    event = audit.record(
        session,
        actor=ACTOR,
        action=ACTION,
        entity_type="retention",
        entity_id=at.date().isoformat(),
        payload={
            "requests": requests,
            "contacts": contacts,
            "own_counsel": own_counsel,
            "cutoffs": cutoffs,
        },
    )
    return Erasure(requests, contacts, own_counsel, cutoffs, event.seq)


def _rowcount(session: Session, statement: Any) -> int:
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)


def run(engine: Engine, policies: PolicyBook, *, now: datetime | None = None) -> Erasure:
    """The scheduled job and the CLI: one unit of work, committed at its end."""
    with unit_of_work(engine) as session:
        return erase_expired(session, policies=policies, now=now)
