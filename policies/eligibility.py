"""Who may be invited: the exclusion rules, each with the reason a decision records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from policies.config import Policy
from policies.vocabulary import FirmStatus, LawyerStatus, Urgency


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
    # Whether an approved rota has the lawyer on duty now; None when no rota covers the moment.
    on_rota: bool | None = None


@dataclass(frozen=True)
class Need:
    """What the request asks of a lawyer."""

    urgency: str
    language: str
    juvenile: bool
    local_time: datetime


def standing_exclusion(firm_status: str, status: str, serves_territory: bool) -> str | None:
    """The reasons that hold whatever the request: the registry's own facts.

    The same for every request in a territory until the registry changes, so the allocator
    keeps them between decisions (`allocation.TerritoryFacts`).
    """
    if firm_status != FirmStatus.ACTIVE:
        return "firm_suspended"
    if status != LawyerStatus.ACTIVE:
        return LawyerStatus.SUSPENDED if status == LawyerStatus.SUSPENDED else LawyerStatus.ON_LEAVE
    if not serves_territory:
        return "territory"
    return None


def request_exclusion(
    *,
    conflicted: str | None,
    already_invited: bool,
    languages: frozenset[str] | tuple[str, ...],
    specialisations: frozenset[str] | tuple[str, ...],
    load: int,
    max_open: int,
    duty: tuple[DutyWindow, ...],
    need: Need,
    policy: Policy,
    on_rota: bool | None = None,
    paused: bool = False,
) -> str | None:
    """The reasons that depend on this request and the moment, checked after the standing
    ones and in this order.

    `paused`: the lawyer let too many invitations lapse lately (policy `[pause]`).

    For a detention, an approved rota covering the moment decides who is on duty (`on_rota`);
    without one (None), the lawyer's weekly duty windows do.

    The load and the cap count only through `load >= max_open`: lawyers alike in everything
    else and on the same side of their caps get the same answer, whatever their caps (the
    allocator relies on it: it judges a territory's lawyers a profile at a time).
    """
    if conflicted is not None:
        return "conflict"
    if already_invited:
        return "already_invited"
    if paused:
        return "paused"
    if policy.eligibility.require_language and need.language not in languages:
        return "language"
    if need.juvenile and policy.eligibility.juvenile_specialisation not in specialisations:
        return "specialisation"
    if load >= max_open:
        return "cap"
    if need.urgency == Urgency.DETENTION and not (
        on_duty(duty, need.local_time) if on_rota is None else on_rota
    ):
        return "off_duty"
    return None


def exclusion(candidate: Candidate, need: Need, policy: Policy) -> str | None:
    """The reason this lawyer may not be invited, or None when eligible."""
    return standing_exclusion(
        candidate.firm_status, candidate.status, candidate.serves_territory
    ) or request_exclusion(
        conflicted=candidate.conflicted,
        already_invited=candidate.already_invited,
        languages=candidate.languages,
        specialisations=candidate.specialisations,
        load=candidate.load,
        max_open=candidate.max_open,
        duty=candidate.duty,
        need=need,
        policy=policy,
        on_rota=candidate.on_rota,
    )
