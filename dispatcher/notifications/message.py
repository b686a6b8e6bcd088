"""What an invitation's notification says: read at send time from the database (invitation,
request, place, lawyer), in the lawyer's first language that the pages speak (az otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

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


def compose(
    session: Session, payload: dict[str, Any], *, policies: PolicyBook, public_url: str
) -> Notice | None:
    """The notification of an outbox invitation message; None when its invitation is gone."""
    invitation = session.get(Invitation, payload.get("invitation_id"))
    if invitation is None:
        return None
    request = session.get(Request, invitation.request_id)
    lawyer = session.get(Lawyer, invitation.lawyer_id)
    if request is None or lawyer is None:
        return None
    language = language_of(lawyer)
    texts = TEXTS[language]
    urgency = texts["urgency"].get(request.urgency, request.urgency)
    if payload.get("withdrawn"):
        body = texts["withdrawn"].format(case=request.case_number)
        return Notice(lawyer, body[:SMS_LIMIT], body[:SMS_LIMIT])
    territory = session.get(Territory, request.territory_id)
    place = session.get(Place, request.place_id) if request.place_id is not None else None
    where = place or territory
    name = getattr(where, f"name_{language}", "") if where is not None else ""
    zone = policies.for_territory(territory.code if territory else "").timezone
    text = texts["body"].format(
        urgency=urgency,
        case=request.case_number,
        place=name,
        deadline=local_time(invitation.deadline, zone),
    )
    link = answer_link(public_url, payload)
    room = SMS_LIMIT - (len(link) + 1 if link else 0)
    body = _fit(text, name, room) + (f" {link}" if link else "")
    title = texts["title"].format(urgency=urgency, case=request.case_number)
    return Notice(lawyer, title, body)
