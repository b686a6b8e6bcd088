"""Requesters stay in their lane: the territories a court or investigator files in, and the
hourly limit that keeps one requester from flooding a territory.

A request is admitted before anything of it is written. A token bound to one territory once
filed dozens of orders into another and used up its capacity and its fallback's; a requester
files only in the territories it was created for (`token create --territory`, or anywhere with
`--any-territory`). The limit counts the requests themselves (per requester, territory and
clock hour, in the database: every worker sees the same count), so no counter can drift. A
refusal is kept (`RequestRefusal`) for the bar's report, in a transaction of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from dispatcher.errors import DomainError
from dispatcher.models import Request, Requester, RequestRefusal, Territory
from policies.config import Policy
from policies.vocabulary import Refusal

HOUR = timedelta(hours=1)


class Refused(DomainError):
    """A request refused before it was written; `refusal` is what the bar's report keeps."""

    def __init__(self, detail: str, refusal: RequestRefusal, retry_after_s: int | None = None):
        super().__init__(detail)
        self.refusal = refusal
        self.retry_after_s = retry_after_s


class OutsideTerritories(Refused):
    status_code = 403


class HourlyLimitReached(Refused):
    status_code = 429


@dataclass(frozen=True)
class Filing:
    """What the lane checks of a request: who files it, where, under which reference."""

    requester: Requester
    territory: str
    external_ref: str


def allowed(requester: Requester, territory: str) -> bool:
    """Whether the requester may file in the territory (by code)."""
    return requester.any_territory or territory in requester.territories


def admit(session: Session, filing: Filing, *, policy: Policy, now: datetime) -> None:
    """Raise `OutsideTerritories` (403) or `HourlyLimitReached` (429) unless the request may be
    filed; write nothing.

    A reference the requester already used passes (its retry answers with the request it
    opened, or 409), and so does an unknown territory (refused 422 by the workflow).
    """
    requester = filing.requester
    assert requester.id is not None
    # Held until the request is written: two workers of one requester count one after the other.
    session.execute(select(Requester.id).where(col(Requester.id) == requester.id).with_for_update())
    already = session.exec(
        select(Request.id).where(
            Request.requester_id == requester.id, Request.external_ref == filing.external_ref
        )
    ).first()
    if already is not None:
        return
    territory = session.exec(select(Territory).where(Territory.code == filing.territory)).first()
    if territory is None:
        return
    if not allowed(requester, filing.territory):
        lane = ", ".join(requester.territories) or "none"
        raise OutsideTerritories(
            f"this {requester.role} files only in its territories ({lane}), "
            f"not in {filing.territory}",
            _refusal(requester, filing.territory, Refusal.OUTSIDE_TERRITORIES, now),
        )
    limit = policy.requests.hourly_limit_per_requester
    hour = now.replace(minute=0, second=0, microsecond=0)
    filed = session.exec(
        select(func.count())
        .select_from(Request)
        .where(
            Request.requester_id == requester.id,
            Request.territory_id == territory.id,
            col(Request.created_at) >= hour,
            col(Request.created_at) < hour + HOUR,
        )
    ).one()
    if filed >= limit:
        retry_after = max(1, int((hour + HOUR - now).total_seconds()) + 1)
        raise HourlyLimitReached(
            f"this {requester.role} has filed {filed} requests in {filing.territory} this hour, "
            f"its limit; the next hour begins in {retry_after} s",
            _refusal(requester, filing.territory, Refusal.HOURLY_LIMIT, now),
            retry_after_s=retry_after,
        )


def _refusal(
    requester: Requester, territory: str, reason: Refusal, now: datetime
) -> RequestRefusal:
    assert requester.id is not None
    return RequestRefusal(requester_id=requester.id, territory=territory, reason=reason, at=now)


def record_refusal(session: Session, refused: Refused) -> None:
    """Keep the refusal for the bar (in a transaction of its own: the refused one rolled back)."""
    row = refused.refusal
    session.add(
        RequestRefusal(
            requester_id=row.requester_id, territory=row.territory, reason=row.reason, at=row.at
        )
    )
    session.flush()
