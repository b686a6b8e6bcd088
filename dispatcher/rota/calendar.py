"""A lawyer's duties as an iCalendar feed, at a link with its own random token.

The token is the feed's only credential (calendar programs cannot sign in): it is stored
hashed, a new link revokes the old one, and it never reaches a log.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy import select, update
from sqlmodel import Session, col

from dispatcher import audit
from dispatcher.models import CalendarFeed, Lawyer, Rota, RotaAssignment, Territory
from dispatcher.tokens import hash_token
from policies.config import PolicyBook
from policies.vocabulary import RotaStatus

PRODID = "-//Counsel dispatcher//Duty rota//EN"
# Past duties stay in the feed this long, so that a calendar keeps the recent ones.
KEEP_PAST = timedelta(days=31)


def new_link(session: Session, *, lawyer: Lawyer, now: datetime, actor: str) -> str:
    """A new feed token for the lawyer (returned in clear, kept hashed); any older one is
    revoked."""
    assert lawyer.id is not None
    revoked = session.execute(
        update(CalendarFeed)
        .where(col(CalendarFeed.lawyer_id) == lawyer.id, col(CalendarFeed.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(CalendarFeed(lawyer_id=lawyer.id, token_hash=hash_token(token), created_at=now))
    audit.record(
        session,
        actor=actor,
        action="calendar_link_made",
        entity_type="lawyer",
        entity_id=lawyer.licence,
        payload={"revoked": getattr(revoked, "rowcount", 0)},
    )
    session.flush()
    return token


def has_link(session: Session, *, lawyer: Lawyer) -> bool:
    """Whether the lawyer has a live feed link (the page can only offer a new one)."""
    found = session.execute(
        select(col(CalendarFeed.id)).where(
            col(CalendarFeed.lawyer_id) == lawyer.id, col(CalendarFeed.revoked_at).is_(None)
        )
    ).first()
    return found is not None


def owner(session: Session, token: str) -> Lawyer | None:
    """The lawyer whose live feed link carries `token`, or None."""
    feed = (
        session.execute(
            select(CalendarFeed).where(
                col(CalendarFeed.token_hash) == hash_token(token),
                col(CalendarFeed.revoked_at).is_(None),
            )
        )
        .scalars()
        .first()
    )
    return session.get(Lawyer, feed.lawyer_id) if feed is not None else None


def feed(
    session: Session,
    *,
    lawyer: Lawyer,
    policies: PolicyBook,
    summary: Callable[[str], str],
    calendar_name: str,
    now: datetime,
) -> bytes:
    """The lawyer's approved duties (from a month back) as an iCalendar document, each in its
    territory's time zone. `summary` gives an event's title from its territory's code."""
    rows = session.execute(
        select(
            col(RotaAssignment.id),
            col(RotaAssignment.starts_at),
            col(RotaAssignment.ends_at),
            col(Territory.code),
        )
        .join(Rota, col(Rota.id) == RotaAssignment.rota_id)
        .join(Territory, col(Territory.id) == Rota.territory_id)
        .where(
            col(RotaAssignment.lawyer_id) == lawyer.id,
            col(Rota.status) == RotaStatus.APPROVED,
            col(RotaAssignment.ends_at) > now - KEEP_PAST,
        )
        .order_by(col(RotaAssignment.starts_at))
    ).all()
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", calendar_name)
    for assignment_id, starts_at, ends_at, territory in rows:
        zone = ZoneInfo(policies.for_territory(territory).timezone)
        event = Event()
        # The duty keeps its id when it passes to a colleague: the old holder's calendar drops
        # it, the new one's adds it.
        event.add("uid", f"duty-{assignment_id}-{lawyer.licence}@counsel-dispatcher")
        event.add("dtstamp", now)
        event.add("dtstart", starts_at.astimezone(zone))
        event.add("dtend", ends_at.astimezone(zone))
        event.add("summary", summary(territory))
        calendar.add_component(event)
    calendar.add_missing_timezones()
    document: bytes = calendar.to_ical()
    return document
