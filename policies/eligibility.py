"""Who may be invited: the exclusion rules, each with the reason a decision records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from policies.config import Policy


@dataclass(frozen=True)
class DutyWindow:
    weekday: int  # 0 = Monday
    start: time
    end: time  # an end at or before start runs past midnight into the next day


def on_duty(windows: Sequence[DutyWindow], local: datetime) -> bool:
    """True inside a declared duty window; a lawyer with no windows is on duty at all times."""
    if not windows:
        return True
    now = local.time().replace(tzinfo=None)
    today = local.weekday()
    yesterday = (today - 1) % 7
    for w in windows:
        if w.start < w.end:
            if w.weekday == today and w.start <= now < w.end:
                return True
        else:
            if w.weekday == today and now >= w.start:
                return True
            if w.weekday == yesterday and now < w.end:
                return True
    return False


@dataclass(frozen=True)
class Candidate:
    """What the rules need to know of one lawyer for one request."""

    licence: str
    firm: str
    status: str
    firm_status: str
    serves_territory: bool
    languages: frozenset[str]
    specialisations: frozenset[str]
    max_open: int
    load: int  # open appointments plus pending invitations
    duty: tuple[DutyWindow, ...]
    conflicted: str | None  # why, when the lawyer or a firm colleague is conflicted
    already_invited: bool


@dataclass(frozen=True)
class Need:
    """What the request asks of a lawyer."""

    urgency: str
    language: str
    juvenile: bool
    local_time: datetime


def exclusion(candidate: Candidate, need: Need, policy: Policy) -> str | None:
    """The reason this lawyer may not be invited, or None when eligible."""
    if candidate.firm_status != "active":
        return "firm_suspended"
    if candidate.status != "active":
        return "suspended" if candidate.status == "suspended" else "on_leave"
    if not candidate.serves_territory:
        return "territory"
    if candidate.conflicted is not None:
        return "conflict"
    if candidate.already_invited:
        return "already_invited"
    if policy.eligibility.require_language and need.language not in candidate.languages:
        return "language"
    if need.juvenile and policy.eligibility.juvenile_specialisation not in (
        candidate.specialisations
    ):
        return "specialisation"
    if candidate.load >= candidate.max_open:
        return "cap"
    if need.urgency == "detention" and not on_duty(candidate.duty, need.local_time):
        return "off_duty"
    return None
