"""What an invitation's notification says: read at send time from the database (invitation,
request, place, lawyer), in the lawyer's first language that the pages speak (az otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from dispatcher.models import Invitation, Lawyer, Place, Request, Territory
from dispatcher.notifications.texts import SMS_LIMIT, TEXTS
from policies.config import PolicyBook
from policies.vocabulary import Language


@dataclass(frozen=True)
class Notice:
    """A notification as sent: `body` fits one SMS; an e-mail carries the title too. `lawyer`
    says whom to reach (its contacts, its own channels)."""

    lawyer: Lawyer
    title: str
    body: str


def language_of(lawyer: Lawyer) -> Language:
    spoken = [Language(word) for word in lawyer.languages if word in set(Language)]
    return spoken[0] if spoken else Language.AZ


def local_time(moment: datetime, zone: str) -> str:
    """`HH:MM` in the policy's timezone, with the day (`DD.MM HH:MM`) when it is not today."""
    local = moment.astimezone(ZoneInfo(zone))
    today = datetime.now(ZoneInfo(zone)).date()
    return local.strftime("%H:%M" if local.date() == today else "%d.%m %H:%M")


def answer_link(public_url: str, payload: dict[str, Any]) -> str | None:
    token = payload.get("answer_token")
    return f"{public_url.rstrip('/')}/answer/{token}" if isinstance(token, str) and token else None


def _fit(text: str, place: str, room: int) -> str:
    """`text` shortened to `room` characters by cutting the place's name first."""
    over = len(text) - room
    if over <= 0:
        return text
    if place and over < len(place):
        return text.replace(place, place[: len(place) - over - 1] + "…", 1)
    return text[: room - 1] + "…"


# The invitation's lawyer, deadline and request, its territory and place, in one statement
# (a notification is composed for every invitation sent).
_NOTICE = (
    select(
        Lawyer,
        col(Invitation.deadline),
        col(Request.urgency),
        col(Request.case_number),
        Territory,
        Place,
    )
    .join(Invitation, col(Invitation.lawyer_id) == Lawyer.id)
    .join(Request, col(Request.id) == Invitation.request_id)
    .outerjoin(Territory, col(Territory.id) == Request.territory_id)
    .outerjoin(Place, col(Place.id) == Request.place_id)
    .where(col(Invitation.id) == bindparam("invitation_id"))
)


def compose(
    session: Session, payload: dict[str, Any], *, policies: PolicyBook, public_url: str
) -> Notice | None:
    """The notification of an outbox invitation message; None when its invitation is gone."""
    found = session.execute(_NOTICE, {"invitation_id": payload.get("invitation_id")}).first()
    if found is None:
        return None
    lawyer, deadline, urgency_word, case_number, territory, place = found
    language = language_of(lawyer)
    texts = TEXTS[language]
    urgency = texts["urgency"].get(urgency_word, urgency_word)
    if payload.get("withdrawn"):
        body = texts["withdrawn"].format(case=case_number)
        return Notice(lawyer, body[:SMS_LIMIT], body[:SMS_LIMIT])
    where = place or territory
    name = getattr(where, f"name_{language}", "") if where is not None else ""
    zone = policies.for_territory(territory.code if territory else "").timezone
    text = texts["body"].format(
        urgency=urgency,
        case=case_number,
        place=name,
        deadline=local_time(deadline, zone),
    )
    link = answer_link(public_url, payload)
    room = SMS_LIMIT - (len(link) + 1 if link else 0)
    body = _fit(text, name, room) + (f" {link}" if link else "")
    title = texts["title"].format(urgency=urgency, case=case_number)
    return Notice(lawyer, title, body)
