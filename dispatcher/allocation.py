"""Allocation decisions: who is eligible, whose turn it is, and why — recorded in full.

This module turns the database into the plain facts the rules in `policies/` read, applies
them, and writes the decision (ranked firms, every exclusion with its reason, the entitlement
and count figures, the policy version). Decisions in one territory are serialised by a lock on
the territory's row, taken before the rotation state is read.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import structlog
from prometheus_client import Histogram
from sqlalchemy import String, Text, bindparam, cast, literal_column, union_all, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func

from dispatcher import audit, registry_version
from dispatcher.db import metadata, utcnow
from dispatcher.models import (
    Decision,
    Firm,
    FirmTerritory,
    Lawyer,
    LawyerTerritory,
    Request,
)
from policies.base import Standings, Turn, rule_named
from policies.config import Policy
from policies.eligibility import DutyWindow, Need, request_exclusion, standing_exclusion
from policies.quota import FirmStanding, LawyerStanding, RankedFirm, order_lawyers, rank_firms

log = structlog.get_logger(__name__)

# The tables themselves: the statements a decision makes are built once, here, from the
# tables rather than the ORM's classes, and only their values change from one decision to the
# next (a decision makes about fifteen; building and compiling each anew cost more than
# running it).
ROTATION_STATE = metadata.tables["rotation_state"]
_APPOINTMENT = metadata.tables["appointment"]
_INVITATION = metadata.tables["invitation"]
_LAWYER = metadata.tables["lawyer"]
_FIRM_TERRITORY = metadata.tables["firm_territory"]
_TERRITORY = metadata.tables["territory"]
_REQUEST = metadata.tables["request"]
_CONFLICT = metadata.tables["conflict"]
_DECISION_SHARE = metadata.tables["decision_share"]
# Statuses named as literals, not parameters: the partial indexes of open work
# (`dispatcher/models.py`) serve only queries that name their condition outright.
_PENDING = literal_column("'pending'", String)
_EXPIRED_STATUS = literal_column("'expired'", String)

# Lawyers of the firms serving a territory: a subquery, so the database finds them through its
# indexes instead of a list of ids.
_SERVING = (
    sa_select(_LAWYER.c.id)
    .join(_FIRM_TERRITORY, _FIRM_TERRITORY.c.firm_id == _LAWYER.c.firm_id)
    .where(_FIRM_TERRITORY.c.territory_id == bindparam("territory"))
)
# Open appointments and pending invitations counted in one round trip, each from the lawyer's
# own index alone (covering): the cost follows the bar, not the history.
_LOAD = union_all(
    sa_select(_APPOINTMENT.c.lawyer_id, func.count())
    .where(_APPOINTMENT.c.closed_at.is_(None), _APPOINTMENT.c.lawyer_id.in_(_SERVING))
    .group_by(_APPOINTMENT.c.lawyer_id),
    sa_select(_INVITATION.c.lawyer_id, func.count())
    .where(_INVITATION.c.status == _PENDING, _INVITATION.c.lawyer_id.in_(_SERVING))
    .group_by(_INVITATION.c.lawyer_id),
)
# Invitations these lawyers let expire since a time: through the lawyer's own index, so the
# cost follows the few lawyers asked about (a firm's), not the nation's expiries (SQLite takes
# that index once it has statistics: `db.refresh_statistics`).
_EXPIRED = (
    sa_select(_INVITATION.c.lawyer_id, func.count())
    .where(
        _INVITATION.c.lawyer_id.in_(bindparam("lawyers", expanding=True)),
        _INVITATION.c.status == _EXPIRED_STATUS,
        _INVITATION.c.deadline >= bindparam("since"),
    )
    .group_by(_INVITATION.c.lawyer_id)
)
_INVITED = sa_select(_INVITATION.c.lawyer_id).where(
    _INVITATION.c.request_id == bindparam("request")
)
_REGISTERED_CONFLICTS = (
    sa_select(_LAWYER.c.firm_id, _LAWYER.c.licence, _CONFLICT.c.role)
    .join(_CONFLICT, _CONFLICT.c.lawyer_id == _LAWYER.c.id)
    .where(_CONFLICT.c.case_number == bindparam("case"))
)
_SAME_CASE = sa_select(_REQUEST.c.id).where(
    _REQUEST.c.case_number == bindparam("case"),
    _REQUEST.c.id != bindparam("request"),
    func.lower(_REQUEST.c.person_name) != bindparam("person"),
)
_OTHER_DEFENCE = sa_select(
    _INVITATION.c.firm_id, _INVITATION.c.request_id, _INVITATION.c.status
).where(_INVITATION.c.request_id.in_(bindparam("requests", expanding=True)))
_STANDINGS = sa_select(
    ROTATION_STATE.c.firm_id, ROTATION_STATE.c.entitlement, ROTATION_STATE.c.offers
).where(ROTATION_STATE.c.territory_id == bindparam("territory"))
_CHARGE = (
    update(ROTATION_STATE)
    .where(
        ROTATION_STATE.c.territory_id == bindparam("territory"),
        ROTATION_STATE.c.firm_id == bindparam("firm"),
    )
    .values(entitlement=bindparam("new_entitlement"), offers=bindparam("new_offers"))
)
_WORKLOAD = union_all(
    sa_select(_APPOINTMENT.c.lawyer_id, _REQUEST.c.category, func.count())
    .join(_REQUEST, _REQUEST.c.id == _APPOINTMENT.c.request_id)
    .where(
        _APPOINTMENT.c.closed_at.is_(None),
        _APPOINTMENT.c.lawyer_id.in_(bindparam("lawyers", expanding=True)),
    )
    .group_by(_APPOINTMENT.c.lawyer_id, _REQUEST.c.category),
    sa_select(_INVITATION.c.lawyer_id, _REQUEST.c.category, func.count())
    .join(_REQUEST, _REQUEST.c.id == _INVITATION.c.request_id)
    .where(
        _INVITATION.c.status == _PENDING,
        _INVITATION.c.lawyer_id.in_(bindparam("lawyers", expanding=True)),
    )
    .group_by(_INVITATION.c.lawyer_id, _REQUEST.c.category),
)
_LAST_OFFER = sa_select(_LAWYER.c.id, _LAWYER.c.last_offer_at).where(
    _LAWYER.c.id.in_(bindparam("lawyers", expanding=True))
)
_OPEN_LOAD = sa_select(
    sa_select(func.count())
    .select_from(_APPOINTMENT)
    .where(_APPOINTMENT.c.lawyer_id == bindparam("lawyer"), _APPOINTMENT.c.closed_at.is_(None))
    .scalar_subquery()
    + sa_select(func.count())
    .select_from(_INVITATION)
    .where(_INVITATION.c.lawyer_id == bindparam("lawyer"), _INVITATION.c.status == _PENDING)
    .scalar_subquery()
)
_TERRITORIES = sa_select(_TERRITORY.c.id, _TERRITORY.c.code, _TERRITORY.c.fallback)
_LOCK_TERRITORIES = (
    sa_select(_TERRITORY.c.id)
    .where(_TERRITORY.c.id.in_(bindparam("territories", expanding=True)))
    .order_by(_TERRITORY.c.id)
    .with_for_update(key_share=True)
)

DECISION_SECONDS = Histogram(
    "dispatcher_decision_seconds", "Time to take one allocation decision", ["kind"]
)


@dataclass(frozen=True)
class LawyerRow:
    """The columns of a lawyer the rules read (plain values: no ORM object per candidate)."""

    id: int
    licence: str
    name: str
    firm_id: int
    languages: tuple[str, ...]
    specialisations: tuple[str, ...]
    max_open: int
    status: str
    duty: tuple[DutyWindow, ...]


@dataclass(frozen=True)
class FirmRow:
    """The columns of a firm the rules read."""

    id: int
    code: str
    status: str


@dataclass
class Weighed:
    """What `workloads` reads of some lawyers: weighted workloads, last offers, and the
    invitations each let expire lately."""

    workload: dict[int, float]
    last_offer: dict[int, datetime | None]
    expired: dict[int, int]


@dataclass
class Pool:
    """The eligible firms and lawyers of one territory for one request, with the exclusions."""

    territory: TerritoryRow
    firms: dict[int, FirmRow]
    weights: dict[int, float]
    eligible: dict[int, list[LawyerRow]]  # firm id -> eligible lawyers
    load: dict[int, int]  # lawyer id -> open appointments + pending invitations
    # The same, weighted by case category: read when a rule orders a firm's lawyers (`weigh`).
    workload: dict[int, float]
    excluded_firms: list[dict[str, Any]] = field(default_factory=list)
    excluded_lawyers: list[dict[str, Any]] = field(default_factory=list)
    firm_ids: dict[str, int] = field(default_factory=dict)  # eligible firms by code
    # Invitations each lawyer let expire lately, when the policy learns who answers (read
    # with the workloads, for the same firms).
    expired: dict[int, int] = field(default_factory=dict)
    learn: bool = False
    attempt: int = 0  # invitations already sent for this request
    # When each lawyer was last offered a case: read with the workloads, for the same firms.
    last_offer: dict[int, datetime | None] = field(default_factory=dict)
    weigher: Callable[[list[int]], Weighed] | None = None
    weighed_firms: set[int] = field(default_factory=set)

    def weigh(self, firm_id: int) -> None:
        """Read the workloads, last offers and recent expiries of a firm's eligible lawyers, once.

        The cap needs only counts, which the indexes give without the cases; the weights by
        case category and the last offers matter only to order the lawyers of the firms a rule
        looks into: the turn firm's alone for the quota rule, so one small read. A second firm
        asked for reads every eligible firm at once (rules that rank all lawyers ask for all).
        """
        if firm_id in self.weighed_firms or self.weigher is None:
            return
        wanted = [firm_id] if not self.weighed_firms else list(self.eligible)
        wanted = [f for f in wanted if f not in self.weighed_firms]
        weighed = self.weigher([lw.id for f in wanted for lw in self.eligible.get(f, [])])
        self.workload.update(weighed.workload)
        self.last_offer.update(weighed.last_offer)
        self.expired.update(weighed.expired)
        self.weighed_firms.update(wanted)

    def firm_id(self, code: str) -> int:
        """The id of an eligible firm, from the code the rotation rule ranks it by."""
        return self.firm_ids[code]

    def exclusion(self, lawyer_id: int, licence: str) -> str | None:
        """Why the rules excluded this lawyer (None when eligible)."""
        if any(lw.id == lawyer_id for lws in self.eligible.values() for lw in lws):
            return None
        for entry in self.excluded_lawyers:
            if entry["licence"] == licence:
                return str(entry["reason"])
        return "territory"  # not a lawyer of a firm serving the territory

    def summary(self) -> dict[str, Any]:
        return {
            "territory": self.territory.code,
            "eligible_firms": sorted(self.firms[f].code for f in self.eligible),
            "excluded_firms": self.excluded_firms,
            "excluded_lawyers": self.excluded_lawyers,
        }


def _duty(windows: Iterable[dict[str, Any]]) -> tuple[DutyWindow, ...]:
    return _parse_duty(tuple((int(w["weekday"]), w["start"], w["end"]) for w in windows))


@lru_cache(maxsize=4096)
def _parse_duty(windows: tuple[tuple[int, str, str], ...]) -> tuple[DutyWindow, ...]:
    return tuple(
        DutyWindow(day, dtime.fromisoformat(start), dtime.fromisoformat(end))
        for day, start, end in windows
    )


# The registry's JSON columns are read as text and parsed once per distinct text: a territory
# has hundreds of lawyers but only a handful of distinct language lists and duty rosters.
@lru_cache(maxsize=4096)
def _texts(raw: str) -> tuple[str, ...]:
    return tuple(json.loads(raw))


@lru_cache(maxsize=4096)
def _duty_text(raw: str) -> tuple[DutyWindow, ...]:
    return _duty(json.loads(raw))


def conflicted_firms(session: Session, request: Request) -> dict[int, str]:
    """Firms that may not defend this person in this case, with the reason."""
    reasons: dict[int, str] = {}
    registered = session.execute(_REGISTERED_CONFLICTS, {"case": request.case_number}).all()
    for firm_id, licence, role in registered:
        reasons.setdefault(firm_id, f"registered {role} of {licence} in this case")
    # Defending another person in the same case: a firm defends one person per case.
    # Found through the case number first, so the cost does not grow with the history.
    same_case = list(
        session.execute(
            _SAME_CASE,
            {
                "case": request.case_number,
                "request": request.id,
                "person": request.person_name.lower(),
            },
        ).scalars()
    )
    if not same_case:
        return reasons
    # Only then the invitations of those requests, found by the request's index; their status
    # is checked here and not in SQL, where a condition on status lets the planner prefer the
    # status index and walk every accepted invitation of the history.
    for firm_id, other, status in session.execute(_OTHER_DEFENCE, {"requests": same_case}).all():
        if status in ("pending", "accepted"):
            reasons.setdefault(firm_id, f"defends another person in this case (request {other})")
    return reasons


# --- the registry's facts, kept between decisions ---------------------------------------------


@dataclass(frozen=True)
class TerritoryRow:
    """A territory as allocation reads it: its id, code and fallbacks in order."""

    id: int
    code: str
    fallback: tuple[str, ...]


@dataclass(frozen=True)
class TerritoryFacts:
    """What the registry says of one territory, the same for every request until it changes.

    The firms serving it; every lawyer of those firms by licence, with the record of the
    reason that excludes the lawyer whatever the request (suspended firm or lawyer, on leave,
    not serving the territory) or None, and the lawyer's profile: a number shared by the
    lawyers of the same languages, specialisations, cap and duty roster, whom the rules judge
    alike; and each firm's weight (its active lawyers serving the territory).
    """

    territory: TerritoryRow
    firms: dict[int, FirmRow]
    lawyers: tuple[tuple[LawyerRow, dict[str, Any] | None, int], ...]
    weights: dict[int, float]
    # The records of request-specific exclusions, made once per lawyer and reason and shared
    # by the decisions' explanations (which never change them).
    records: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict, compare=False)

    def record(self, lawyer: LawyerRow, reason: str) -> dict[str, Any]:
        found = self.records.get((lawyer.id, reason))
        if found is None:
            found = self.records[(lawyer.id, reason)] = _excluded(
                lawyer, self.firms[lawyer.firm_id], reason
            )
        return found


def _excluded(lawyer: LawyerRow, firm: FirmRow, reason: str) -> dict[str, Any]:
    """How an explanation records an excluded lawyer."""
    return {"licence": lawyer.licence, "firm": firm.code, "reason": reason}


@dataclass
class Registry:
    """What one process keeps of one database's registry, at one version of it."""

    version: str
    territories: dict[int, TerritoryRow]
    by_code: dict[str, TerritoryRow]
    facts: dict[int, TerritoryFacts] = field(default_factory=dict)

    def facts_of(self, session: Session, territory: TerritoryRow) -> TerritoryFacts:
        """The territory's facts at this version, read at the first asking."""
        found = self.facts.get(territory.id)
        if found is None:
            found = self.facts[territory.id] = _read_facts(session, territory)
        return found

    def chain(self, request: Request) -> list[TerritoryRow]:
        """The request's territory, then its fallbacks in order."""
        home = self.territories[request.territory_id]
        chain = [home]
        for code in home.fallback:
            found = self.by_code.get(code)
            if found is not None and found not in chain:
                chain.append(found)
        return chain


# Per engine (database): the registry as read at the latest version this process has seen.
_KEPT: WeakKeyDictionary[Engine, Registry] = WeakKeyDictionary()


def kept_registry(session: Session) -> Registry:
    """The registry at the version this transaction sees: kept from earlier decisions while
    the version holds (one primary-key read), read again after any change
    (`dispatcher/registry_version.py`)."""
    version = registry_version.current(session)
    engine = session.get_bind().engine
    kept = _KEPT.get(engine)
    if kept is None or kept.version != version:
        rows = [
            TerritoryRow(id, code, tuple(fallback or ()))
            for id, code, fallback in session.execute(_TERRITORIES).all()
        ]
        kept = Registry(version, {t.id: t for t in rows}, {t.code: t for t in rows})
        _KEPT[engine] = kept
    return kept


def forget_registry() -> None:
    """Drop what this process keeps of every registry (the next decision reads afresh)."""
    _KEPT.clear()


def prime(session: Session) -> int:
    """Read every territory's facts now rather than at its first decision; returns how many.

    A process that starts, or sees the registry change, reads a territory's facts at the
    territory's next decision, which then takes the time of that read (about 10 ms for a
    capital district of 700 lawyers); priming moves that cost out of the decisions.
    """
    kept = kept_registry(session)
    for territory in kept.territories.values():
        kept.facts_of(session, territory)
    return len(kept.territories)


def _read_facts(session: Session, territory: TerritoryRow) -> TerritoryFacts:
    firms = {
        row[0]: FirmRow(row[0], row[1], row[2])
        for row in session.execute(
            sa_select(col(Firm.id), col(Firm.code), col(Firm.status))
            .join(FirmTerritory, col(FirmTerritory.firm_id) == Firm.id)
            .where(col(FirmTerritory.territory_id) == territory.id)
        ).all()
    }
    weights: dict[int, float] = dict.fromkeys(firms, 0.0)
    lawyers: list[tuple[LawyerRow, dict[str, Any] | None, int]] = []
    profiles: dict[tuple[Any, ...], int] = {}
    for lawyer, serves in _lawyer_rows(session, territory.id):
        firm = firms[lawyer.firm_id]
        if lawyer.status == "active" and serves:
            weights[lawyer.firm_id] += 1.0
        reason = standing_exclusion(firm.status, lawyer.status, serves)
        entry = None if reason is None else _excluded(lawyer, firm, reason)
        profile = (lawyer.languages, lawyer.specialisations, lawyer.max_open, lawyer.duty)
        lawyers.append((lawyer, entry, profiles.setdefault(profile, len(profiles))))
    return TerritoryFacts(
        territory=territory,
        firms=firms,
        lawyers=tuple(lawyers),
        weights={f: w for f, w in weights.items() if w > 0},
    )


def _lawyer_rows(session: Session, territory_id: int) -> list[tuple[LawyerRow, bool]]:
    """Every lawyer of the firms serving the territory, by licence, and whether the lawyer
    serves it too: one query."""
    serves = aliased(LawyerTerritory)
    rows = session.execute(
        sa_select(
            col(Lawyer.id),
            col(Lawyer.licence),
            col(Lawyer.name),
            col(Lawyer.firm_id),
            cast(col(Lawyer.languages), Text),
            cast(col(Lawyer.specialisations), Text),
            col(Lawyer.max_open),
            col(Lawyer.status),
            cast(col(Lawyer.duty), Text),
            col(serves.lawyer_id),
        )
        .join(FirmTerritory, col(FirmTerritory.firm_id) == Lawyer.firm_id)
        .outerjoin(
            serves,
            (col(serves.lawyer_id) == Lawyer.id) & (col(serves.territory_id) == territory_id),
        )
        .where(col(FirmTerritory.territory_id) == territory_id)
        .order_by(col(Lawyer.licence))
    ).all()
    return [(_lawyer_row(tuple(row[:9])), row[9] is not None) for row in rows]


@lru_cache(maxsize=65536)
def _lawyer_row(row: tuple[Any, ...]) -> LawyerRow:
    """A lawyer's columns as the rules read them; the same columns give the same object."""
    return LawyerRow(
        id=row[0],
        licence=row[1],
        name=row[2],
        firm_id=row[3],
        languages=_texts(row[4]),
        specialisations=_texts(row[5]),
        max_open=row[6],
        status=row[7],
        duty=_duty_text(row[8]),
    )


# --- the pool -----------------------------------------------------------------------------

_UNJUDGED = "not judged yet"  # a marker no reason equals (compared by identity)


def build_pool(
    session: Session, request: Request, facts: TerritoryFacts, policy: Policy, now: datetime
) -> Pool:
    """Apply every eligibility rule to the lawyers of the firms serving the facts' territory.

    The registry's facts come kept (`Registry.facts_of`); what changes from one request to the
    next is read here: the lawyers' loads, this request's invitations and conflicts, and the
    invitations let expire in the learning window.
    """
    territory = facts.territory
    firms = facts.firms
    load: dict[int, int] = defaultdict(int)
    for lawyer_id, n in session.execute(_LOAD, {"territory": territory.id}).all():
        load[lawyer_id] += n
    invited = set(session.execute(_INVITED, {"request": request.id}).scalars())
    conflicts = conflicted_firms(session, request)
    learn_days = policy.rotation.learn_answers_days
    need = Need(
        urgency=request.urgency,
        language=request.person_language,
        juvenile=request.person_juvenile,
        local_time=now.astimezone(ZoneInfo(policy.timezone)),
    )
    weights: dict[int, float] = defaultdict(float, facts.weights)
    eligible: dict[int, list[LawyerRow]] = {}
    pool = Pool(territory, firms, weights, eligible, load, defaultdict(float))
    since = now - timedelta(days=learn_days) if learn_days else None
    pool.weigher = lambda ids: workloads(session, ids, policy, expired_since=since)
    pool.learn, pool.attempt = learn_days > 0, len(invited)
    excluded = pool.excluded_lawyers
    load_of = load.get
    # A lawyer with no conflict and no invitation for this request is judged as the others of
    # the same profile and the same side of the cap are: once per decision.
    judged: dict[tuple[int, bool], str | None] = {}
    for lawyer, standing, profile in facts.lawyers:
        if standing is not None:
            excluded.append(standing)
            continue
        lawyer_load = load_of(lawyer.id, 0)
        conflicted = conflicts.get(lawyer.firm_id) if conflicts else None
        alone = conflicted is not None or lawyer.id in invited
        alike = (profile, lawyer_load >= lawyer.max_open)
        reason = _UNJUDGED if alone else judged.get(alike, _UNJUDGED)
        if reason is _UNJUDGED:
            reason = request_exclusion(
                conflicted=conflicted,
                already_invited=lawyer.id in invited,
                languages=lawyer.languages,
                specialisations=lawyer.specialisations,
                load=lawyer_load,
                max_open=lawyer.max_open,
                duty=lawyer.duty,
                need=need,
                policy=policy,
            )
            if not alone:
                judged[alike] = reason
        if reason is None:
            eligible.setdefault(lawyer.firm_id, []).append(lawyer)
        else:
            excluded.append(facts.record(lawyer, reason))
    if policy.rotation.weight == "equal":
        for firm_id in weights:
            weights[firm_id] = 1.0
    for firm_id, firm in sorted(firms.items(), key=lambda kv: kv[1].code):
        if firm_id in eligible:
            continue
        if firm.status != "active":
            why = "firm_suspended"
        elif firm_id in conflicts:
            why = "conflict"
        else:
            why = "no_eligible_lawyer"
        entry: dict[str, Any] = {"firm": firm.code, "reason": why}
        if firm_id in conflicts:
            entry["detail"] = conflicts[firm_id]
        pool.excluded_firms.append(entry)
    pool.firm_ids = {firms[f].code: f for f in eligible}
    return pool


@dataclass
class Standing:
    """A firm's running entitlement and offers in the territory's rotation (a rotation_state
    row, read and written as plain values: the territory's lock serialises its decisions)."""

    entitlement: float
    offers: int


def _standings(session: Session, pool: Pool) -> dict[int, Standing]:
    territory_id = pool.territory.id
    states = {
        firm_id: Standing(entitlement, offers)
        for firm_id, entitlement, offers in session.execute(
            _STANDINGS, {"territory": territory_id}
        ).all()
        if firm_id in pool.eligible
    }
    missing = [firm_id for firm_id in pool.eligible if firm_id not in states]
    if missing:
        session.execute(
            ROTATION_STATE.insert(),
            [
                {"territory_id": territory_id, "firm_id": f, "entitlement": 0.0, "offers": 0}
                for f in missing
            ],
        )
        states.update({f: Standing(0.0, 0) for f in missing})
    return states


def rank(session: Session, pool: Pool) -> tuple[list[RankedFirm], dict[int, Standing]]:
    """The eligible firms of the pool in rotation order."""
    states = _standings(session, pool)
    ranking = rank_firms(
        [
            FirmStanding(
                firm=pool.firms[f].code,
                weight=pool.weights[f],
                entitlement=states[f].entitlement,
                offers=states[f].offers,
            )
            for f in pool.eligible
        ]
    )
    return ranking, states


def workloads(
    session: Session, lawyer_ids: list[int], policy: Policy, *, expired_since: datetime | None
) -> Weighed:
    """Open appointments and pending invitations of these lawyers, weighted by case category,
    when each was last offered a case, and (when the policy learns who answers) how many
    invitations each let expire since `expired_since`."""
    found: dict[int, float] = defaultdict(float)
    if not lawyer_ids:
        return Weighed(found, {}, {})
    for lawyer_id, category, n in session.execute(_WORKLOAD, {"lawyers": lawyer_ids}).all():
        found[lawyer_id] += n * policy.workload.weight(category)
    last_offer: dict[int, datetime | None] = {
        lawyer_id: at
        for lawyer_id, at in session.execute(_LAST_OFFER, {"lawyers": lawyer_ids}).all()
    }
    expired: dict[int, int] = {}
    if expired_since is not None:
        expired = {
            lawyer_id: int(n)
            for lawyer_id, n in session.execute(
                _EXPIRED, {"lawyers": lawyer_ids, "since": expired_since}
            )
        }
    return Weighed(found, last_offer, expired)


def _lawyer_standings(pool: Pool, firm_id: int) -> list[LawyerStanding]:
    pool.weigh(firm_id)
    return [
        LawyerStanding(
            lw.licence, pool.workload[lw.id], pool.last_offer.get(lw.id), pool.expired.get(lw.id, 0)
        )
        for lw in pool.eligible[firm_id]
    ]


def lawyers_in_turn(pool: Pool, firm_id: int) -> list[LawyerRow]:
    """The firm's eligible lawyers, the one to invite first."""
    by_licence = {lw.licence: lw for lw in pool.eligible[firm_id]}
    ordered = order_lawyers(_lawyer_standings(pool, firm_id), learn=pool.learn)
    return [by_licence[s.licence] for s in ordered]


def take_turn(
    session: Session, pool: Pool, request: Request, policy: Policy
) -> tuple[Turn, dict[int, Standing], list[LawyerRow]]:
    """The policy's rule gives the turn among the pool's eligible firms and lawyers.

    Returns the rule's answer, the rotation states to charge, and the turn firm's lawyers in
    the order to try them.
    """
    states = _standings(session, pool)
    standings = Standings(
        firms=[
            FirmStanding(
                firm=pool.firms[f].code,
                weight=pool.weights[f],
                entitlement=states[f].entitlement,
                offers=states[f].offers,
            )
            for f in pool.eligible
        ],
        lawyers_of=lambda code: _lawyer_standings(pool, pool.firm_id(code)),
        settings=policy.rotation,
        requester=str(request.requester_id),
        draw_key=f"{request.requester_id}:{request.external_ref}:{pool.attempt}",
    )
    turn = rule_named(policy.rotation.rule).turn(standings)
    by_licence = {lw.licence: lw for lw in pool.eligible[pool.firm_id(turn.firm)]}
    return turn, states, [by_licence[licence] for licence in turn.queue]


@dataclass
class Outcome:
    decision: Decision
    lawyer: Lawyer | None
    firm: FirmRow | None


def _charge(
    session: Session,
    decision: Decision,
    pool: Pool,
    ranking: list[RankedFirm],
    states: dict[int, Standing],
    chosen_firm_id: int,
) -> None:
    assert decision.id is not None
    shares: list[dict[str, Any]] = []
    standing: list[dict[str, Any]] = []
    territory_id = pool.territory.id
    for r in ranking:
        firm_id = pool.firm_ids[r.firm]
        state = states[firm_id]
        state.entitlement += r.share
        charged = 1 if firm_id == chosen_firm_id else 0
        state.offers += charged
        standing.append(
            {
                "territory": territory_id,
                "firm": firm_id,
                "new_entitlement": state.entitlement,
                "new_offers": state.offers,
            }
        )
        shares.append(
            {"decision_id": decision.id, "firm_id": firm_id, "share": r.share, "charged": charged}
        )
    # Every eligible firm's standing and share in one statement each (executemany).
    _executemany(session, _CHARGE, standing)
    _executemany(session, _NEW_SHARES, shares)


_NEW_SHARES = _DECISION_SHARE.insert()
# Statements compiled once per database kind, for `_executemany`: (SQL, parameter order).
_DRIVER_SQL: dict[tuple[int, str], tuple[str, tuple[str, ...] | None]] = {}


def _executemany(session: Session, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Run `statement` for every row through the driver's executemany.

    The statement is compiled once per database kind and the rows go to the driver as they
    are: plain numbers, which need none of the per-row parameter processing SQLAlchemy would
    give them (a third of a millisecond for the seventy firms of a capital district).
    """
    connection = session.connection()
    dialect = connection.dialect
    key = (id(statement), dialect.name)
    found = _DRIVER_SQL.get(key)
    if found is None:
        compiled = statement.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if compiled.positional else None
        found = _DRIVER_SQL[key] = (compiled.string, order)
    sql, order = found
    if order is None:
        connection.exec_driver_sql(sql, rows)
    else:
        connection.exec_driver_sql(sql, [tuple(row[k] for k in order) for row in rows])


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def lock_territories(session: Session, territories: list[TerritoryRow]) -> None:
    """Serialise decisions in these territories: row locks, taken in one order.

    A row lock on the territory (FOR NO KEY UPDATE, so rows that merely reference the
    territory do not block it) rather than an advisory lock: it lives and dies with the
    transaction and needs no key scheme. SQLite has no row locks and needs none: its writers
    are serialised at BEGIN IMMEDIATE. The chain head comes first: see `audit.lock_head`.
    """
    if session.get_bind().dialect.name == "sqlite":
        return  # the chain head is read when the decision's events are appended
    audit.lock_head(session)
    session.execute(_LOCK_TERRITORIES, {"territories": sorted(t.id for t in territories)}).all()


def lock_lawyer(session: Session, lawyer_id: int) -> Lawyer:
    """Lock the chosen lawyer, whose cap may be shared with decisions in other territories."""
    lawyer = session.get(
        Lawyer, lawyer_id, with_for_update={"key_share": True}, populate_existing=True
    )
    assert lawyer is not None
    return lawyer


def _first_within_cap(session: Session, queue: list[LawyerRow]) -> Lawyer | None:
    """The first lawyer of the queue still active and under the cap once locked (None: none).

    The pool was read before the locks: a decision in another territory may have filled a
    shared lawyer's cap, or the registry may have changed, meanwhile.
    """
    for row in queue:
        lawyer = lock_lawyer(session, row.id)
        if lawyer.status == "active" and open_load(session, row.id) < lawyer.max_open:
            return lawyer
    return None


def open_load(session: Session, lawyer_id: int) -> int:
    """Open appointments plus pending invitations: what the cap counts."""
    return int(session.execute(_OPEN_LOAD, {"lawyer": lawyer_id}).scalar_one())


def _decision(
    request: Request,
    territory: TerritoryRow,
    policy: Policy,
    kind: str,
    via: str | None,
    explanation: dict[str, Any],
) -> Decision:
    return Decision(
        request_id=request.id,
        territory_id=territory.id,
        kind=kind,
        via_fallback=via,
        policy_version=policy.version,
        explanation={"kind": kind, "policy_version": policy.version, **explanation},
    )


_DECISION = metadata.tables["decision"]
_NEW_DECISION = _DECISION.insert().returning(_DECISION.c.id)


def _save(session: Session, decision: Decision) -> Decision:
    """Write the decision in one statement and give it its id (the ORM's flush of one row
    costs several times the statement)."""
    values = {c.name: getattr(decision, c.name) for c in _DECISION.columns if c.name != "id"}
    decision.id = session.execute(_NEW_DECISION, values).scalar_one()
    return decision


def decide_rotation(
    session: Session, request: Request, policy_for: Any, *, note: str | None = None
) -> Outcome:
    """Give the turn for `request`: the territory first, then its fallbacks in order."""
    started = time.perf_counter()
    now = utcnow()
    tried: list[dict[str, Any]] = []
    kept = kept_registry(session)
    chain = kept.chain(request)
    lock_territories(session, chain)
    for territory in chain:
        policy = policy_for(territory.code)
        lawyer: Lawyer | None = None
        facts = kept.facts_of(session, territory)
        pool = build_pool(session, request, facts, policy, now)
        if pool.eligible:
            turn, states, queue = take_turn(session, pool, request, policy)
            firm_id = pool.firm_id(turn.firm)
            lawyer = _first_within_cap(session, queue)
            if lawyer is None:
                # A decision in another territory filled a shared lawyer's cap after the pool
                # was read; read it again, now that those lawyers are locked and counted.
                pool = build_pool(session, request, facts, policy, now)
                if pool.eligible:
                    turn, states, queue = take_turn(session, pool, request, policy)
                    firm_id = pool.firm_id(turn.firm)
                    lawyer = _first_within_cap(session, queue)
        tried.append(pool.summary())
        if not pool.eligible or lawyer is None:
            continue
        pool.weigh(firm_id)  # the queue's workloads, for the record
        via = None if territory.id == request.territory_id else territory.code
        decision = _decision(
            request,
            territory,
            policy,
            "rotation",
            via,
            {
                "territory": territory.code,
                "via_fallback": via,
                "fallback_rule": (
                    f"no eligible lawyer in {tried[0]['territory']}; fallback to {via}"
                    if via
                    else None
                ),
                "note": note,
                "rule": {"name": policy.rotation.rule, **turn.how},
                "ranking": [r.as_dict() for r in turn.ranking],
                "lawyer_queue": [
                    {
                        "licence": lw.licence,
                        "load": pool.load[lw.id],
                        "workload": pool.workload[lw.id],
                        "last_offer_at": _iso(pool.last_offer.get(lw.id)),
                        **({"expired_recently": pool.expired.get(lw.id, 0)} if pool.learn else {}),
                    }
                    for lw in queue
                ],
                "chosen": {"firm": pool.firms[firm_id].code, "lawyer": lawyer.licence},
                "tried": tried,
            },
        )
        decision.firm_id, decision.lawyer_id, decision.charged = firm_id, lawyer.id, True
        _save(session, decision)
        _charge(session, decision, pool, list(turn.ranking), states, firm_id)
        lawyer.last_offer_at = now
        session.add(lawyer)
        DECISION_SECONDS.labels("rotation").observe(time.perf_counter() - started)
        return Outcome(decision, lawyer, pool.firms[firm_id])
    home = chain[0]
    decision = _decision(
        request,
        home,
        policy_for(home.code),
        "rotation",
        None,
        {
            "territory": home.code,
            "note": note,
            "chosen": None,
            "tried": tried,
            "outcome": "no eligible lawyer in the territory or its fallbacks",
        },
    )
    _save(session, decision)
    DECISION_SECONDS.labels("rotation").observe(time.perf_counter() - started)
    return Outcome(decision, None, None)


def request_territory_code(session: Session, request: Request) -> str:
    found = kept_registry(session).territories.get(request.territory_id)
    return found.code if found else ""


def regional_list(
    session: Session, request: Request, policy: Policy, rng: random.Random
) -> tuple[Decision, list[dict[str, Any]]]:
    """The tablet list: the lawyers of the firms next in turn, shuffled (or a starving firm's).

    With `[choice] firms_in_turn_only`, only the firms a choice would not carry more than the
    rotation's slack above their entitlement are shown (the rule's `within_quota`): a choice
    is charged to the chosen firm, so whatever the suspect picks, every firm stays within the
    bound the rotation keeps. Otherwise a small firm listed at every hand-over is chosen more
    often than its share, and no rotation turn can take that back. A list left short by the
    few firms shown is filled with further lawyers of those firms, in turn.
    """
    now = utcnow()
    kept = kept_registry(session)
    territory = kept.territories[request.territory_id]
    pool = build_pool(session, request, kept.facts_of(session, territory), policy, now)
    ranking = rank(session, pool)[0] if pool.eligible else []
    starving = [r for r in ranking if r.shortfall - r.share >= policy.rotation.starvation_shortfall]
    firms_shown: list[RankedFirm]
    per_firm = policy.choice.lawyers_per_firm
    fill = False
    if starving:
        firms_shown = [max(starving, key=lambda r: (r.shortfall - r.share, r.firm))]
        per_firm = policy.choice.list_size
        rule = "starving_firm_alone"
    elif policy.choice.firms_in_turn_only:
        firms_shown = [r for r in ranking if r.within_quota] or ranking[:1]
        rule, fill = "firms_in_turn", True
    else:
        firms_shown = ranking
        rule = "next_in_rotation"
    in_turn = {r.firm: lawyers_in_turn(pool, pool.firm_id(r.firm)) for r in firms_shown}
    picked: list[tuple[str, LawyerRow]] = [
        (firm, lawyer) for firm, lawyers in in_turn.items() for lawyer in lawyers[:per_firm]
    ]
    if fill:
        picked += [
            (firm, lawyer) for firm, lawyers in in_turn.items() for lawyer in lawyers[per_firm:]
        ]
    options: list[dict[str, Any]] = [
        {
            "lawyer": lawyer.licence,
            "name": lawyer.name,
            "firm": firm,
            "languages": list(lawyer.languages),
        }
        for firm, lawyer in picked[: policy.choice.list_size]
    ]
    rng.shuffle(options)
    for position, option in enumerate(options, start=1):
        option["position"] = position
    decision = _decision(
        request,
        territory,
        policy,
        "list",
        None,
        {
            "territory": territory.code,
            "rule": rule,
            "ranking": [r.as_dict() for r in ranking],
            "options": [
                {"position": o["position"], "lawyer": o["lawyer"], "firm": o["firm"]}
                for o in options
            ],
            "tried": [pool.summary()],
        },
    )
    _save(session, decision)
    return decision, options


def decide_choice(
    session: Session, request: Request, policy: Policy, lawyer: Lawyer
) -> Outcome | str:
    """Record the suspect's chosen lawyer as the decision, if the lawyer is still eligible.

    Returns the reason (and records nothing) when the rules now exclude the lawyer; the caller
    then falls back to the rotation and says why.
    """
    started = time.perf_counter()
    now = utcnow()
    kept = kept_registry(session)
    territory = kept.territories[request.territory_id]
    lock_territories(session, [territory])
    assert lawyer.id is not None
    lawyer_id = lawyer.id
    lawyer = lock_lawyer(session, lawyer_id)
    pool = build_pool(session, request, kept.facts_of(session, territory), policy, now)
    reason = pool.exclusion(lawyer_id, lawyer.licence)
    if reason is not None:
        return reason
    ranking, states = rank(session, pool)
    firm = pool.firms[lawyer.firm_id]
    decision = _decision(
        request,
        territory,
        policy,
        "choice",
        None,
        {
            "territory": territory.code,
            "chosen": {"firm": firm.code, "lawyer": lawyer.licence},
            "charged": policy.rotation.charge_choices,
            "ranking": [r.as_dict() for r in ranking],
            "tried": [pool.summary()],
        },
    )
    decision.firm_id, decision.lawyer_id = firm.id, lawyer.id
    decision.charged = policy.rotation.charge_choices
    _save(session, decision)
    if policy.rotation.charge_choices:
        _charge(session, decision, pool, ranking, states, firm.id)
    lawyer.last_offer_at = now
    session.add(lawyer)
    DECISION_SECONDS.labels("choice").observe(time.perf_counter() - started)
    return Outcome(decision, lawyer, firm)
