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
from zoneinfo import ZoneInfo

import structlog
from prometheus_client import Histogram
from sqlalchemy import Text, bindparam, cast, insert, union_all, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from dispatcher import audit
from dispatcher.db import metadata, utcnow
from dispatcher.models import (
    Appointment,
    Conflict,
    Decision,
    DecisionShare,
    Firm,
    FirmTerritory,
    Invitation,
    Lawyer,
    LawyerTerritory,
    Request,
    RotationState,
    Territory,
)
from policies.base import Standings, Turn, rule_named
from policies.config import Policy
from policies.eligibility import Candidate, DutyWindow, Need, exclusion
from policies.quota import FirmStanding, LawyerStanding, RankedFirm, order_lawyers, rank_firms

log = structlog.get_logger(__name__)

# The table itself, for statements that are plain SQL rather than the ORM's bulk forms.
ROTATION_STATE = metadata.tables["rotation_state"]

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
    last_offer_at: datetime | None


@dataclass(frozen=True)
class FirmRow:
    """The columns of a firm the rules read."""

    id: int
    code: str
    status: str


@dataclass
class Pool:
    """The eligible firms and lawyers of one territory for one request, with the exclusions."""

    territory: Territory
    firms: dict[int, FirmRow]
    weights: dict[int, float]
    eligible: dict[int, list[LawyerRow]]  # firm id -> eligible lawyers
    load: dict[int, int]  # lawyer id -> open appointments + pending invitations
    # The same, weighted by case category: read when a rule orders a firm's lawyers (`weigh`).
    workload: dict[int, float]
    excluded_firms: list[dict[str, Any]] = field(default_factory=list)
    excluded_lawyers: list[dict[str, Any]] = field(default_factory=list)
    firm_ids: dict[str, int] = field(default_factory=dict)  # eligible firms by code
    # Invitations each lawyer let expire lately, when the policy learns who answers.
    expired: dict[int, int] = field(default_factory=dict)
    learn: bool = False
    attempt: int = 0  # invitations already sent for this request
    weigher: Callable[[list[int]], dict[int, float]] | None = None
    weighed_firms: set[int] = field(default_factory=set)

    def weigh(self, firm_id: int) -> None:
        """Read the workloads of a firm's eligible lawyers, once.

        The cap needs only counts, which the indexes give without the cases; the weights by
        case category matter only to order the lawyers of the firms a rule looks into: the
        turn firm's alone for the quota rule, so one small read. A second firm asked for
        reads every eligible firm at once (rules that rank all lawyers ask for all).
        """
        if firm_id in self.weighed_firms or self.weigher is None:
            return
        wanted = [firm_id] if not self.weighed_firms else list(self.eligible)
        wanted = [f for f in wanted if f not in self.weighed_firms]
        self.workload.update(
            self.weigher([lw.id for f in wanted for lw in self.eligible.get(f, [])])
        )
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
    registered = session.execute(
        sa_select(col(Lawyer.firm_id), col(Lawyer.licence), col(Conflict.role))
        .join(Conflict, col(Conflict.lawyer_id) == Lawyer.id)
        .where(col(Conflict.case_number) == request.case_number)
    ).all()
    for firm_id, licence, role in registered:
        reasons.setdefault(firm_id, f"registered {role} of {licence} in this case")
    # Defending another person in the same case: a firm defends one person per case.
    # Found through the case number first, so the cost does not grow with the history.
    same_case = list(
        session.execute(
            sa_select(col(Request.id)).where(
                col(Request.case_number) == request.case_number,
                col(Request.id) != request.id,
                func.lower(Request.person_name) != request.person_name.lower(),
            )
        ).scalars()
    )
    # Only then the invitations of those requests, found by the request's index; their status
    # is checked here and not in SQL, where a condition on status lets the planner prefer the
    # status index and walk every accepted invitation of the history.
    other_defence = (
        [
            (firm_id, other)
            for firm_id, other, status in session.execute(
                sa_select(
                    col(Invitation.firm_id), col(Invitation.request_id), col(Invitation.status)
                ).where(col(Invitation.request_id).in_(same_case))
            ).all()
            if status in ("pending", "accepted")
        ]
        if same_case
        else []
    )
    for firm_id, other in other_defence:
        reasons.setdefault(firm_id, f"defends another person in this case (request {other})")
    return reasons


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
            col(Lawyer.last_offer_at),
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
    return [(_lawyer_row(tuple(row[:10])), row[10] is not None) for row in rows]


@lru_cache(maxsize=65536)
def _lawyer_row(row: tuple[Any, ...]) -> LawyerRow:
    """A lawyer's columns as the rules read them; the same columns give the same object, so a
    territory's lawyers are built once and not at every decision."""
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
        last_offer_at=row[9],
    )


def _of_firms_serving(lawyer_id: Any, territory_id: int) -> Any:
    """`lawyer_id` belongs to a lawyer of a firm serving the territory (a subquery, so the
    database finds the lawyers through its indexes instead of a list of ids)."""
    return lawyer_id.in_(
        sa_select(col(Lawyer.id))
        .join(FirmTerritory, col(FirmTerritory.firm_id) == Lawyer.firm_id)
        .where(col(FirmTerritory.territory_id) == territory_id)
    )


def build_pool(
    session: Session, request: Request, territory: Territory, policy: Policy, now: datetime
) -> Pool:
    """Apply every eligibility rule to the lawyers of the firms serving `territory`."""
    assert territory.id is not None
    firms = {
        row[0]: FirmRow(row[0], row[1], row[2])
        for row in session.execute(
            sa_select(col(Firm.id), col(Firm.code), col(Firm.status))
            .join(FirmTerritory, col(FirmTerritory.firm_id) == Firm.id)
            .where(col(FirmTerritory.territory_id) == territory.id)
        ).all()
    }
    lawyers = _lawyer_rows(session, territory.id)
    load: dict[int, int] = defaultdict(int)
    # Open appointments and pending invitations counted in one round trip, each from the
    # lawyer's own index alone (covering): the cost follows the bar, not the history.
    open_cases = (
        sa_select(col(Appointment.lawyer_id), func.count())
        .where(
            col(Appointment.closed_at).is_(None),
            _of_firms_serving(col(Appointment.lawyer_id), territory.id),
        )
        .group_by(col(Appointment.lawyer_id))
    )
    offered = (
        sa_select(col(Invitation.lawyer_id), func.count())
        .where(
            col(Invitation.status) == "pending",
            _of_firms_serving(col(Invitation.lawyer_id), territory.id),
        )
        .group_by(col(Invitation.lawyer_id))
    )
    for lawyer_id, n in session.execute(union_all(open_cases, offered)).all():
        load[lawyer_id] += n
    invited = set(
        session.execute(
            sa_select(col(Invitation.lawyer_id)).where(col(Invitation.request_id) == request.id)
        ).scalars()
    )
    conflicts = conflicted_firms(session, request)
    learn_days = policy.rotation.learn_answers_days
    expired: dict[int, int] = {}
    if learn_days and lawyers:
        # Found through (status, deadline): the cost follows the window, not the history.
        expired = {
            lawyer_id: int(n)
            for lawyer_id, n in session.execute(
                sa_select(col(Invitation.lawyer_id), func.count())
                .where(
                    col(Invitation.status) == "expired",
                    col(Invitation.deadline) >= now - timedelta(days=learn_days),
                    _of_firms_serving(col(Invitation.lawyer_id), territory.id),
                )
                .group_by(col(Invitation.lawyer_id))
            ).all()
        }
    need = Need(
        urgency=request.urgency,
        language=request.person_language,
        juvenile=request.person_juvenile,
        local_time=now.astimezone(ZoneInfo(policy.timezone)),
    )
    weights: dict[int, float] = defaultdict(float)
    eligible: dict[int, list[LawyerRow]] = {}
    pool = Pool(territory, firms, weights, eligible, load, defaultdict(float))
    pool.weigher = lambda ids: workloads(session, ids, policy)
    pool.expired, pool.learn, pool.attempt = expired, learn_days > 0, len(invited)
    for lawyer, in_territory in lawyers:
        firm = firms[lawyer.firm_id]
        if lawyer.status == "active" and in_territory:
            weights[lawyer.firm_id] += 1.0
        candidate = Candidate(
            licence=lawyer.licence,
            firm=firm.code,
            status=lawyer.status,
            firm_status=firm.status,
            serves_territory=in_territory,
            languages=frozenset(lawyer.languages),
            specialisations=frozenset(lawyer.specialisations),
            max_open=lawyer.max_open,
            load=load[lawyer.id],
            duty=lawyer.duty,
            conflicted=conflicts.get(lawyer.firm_id),
            already_invited=lawyer.id in invited,
        )
        reason = exclusion(candidate, need, policy)
        if reason is None:
            eligible.setdefault(lawyer.firm_id, []).append(lawyer)
        else:
            pool.excluded_lawyers.append(
                {"licence": lawyer.licence, "firm": firm.code, "reason": reason}
            )
    if policy.rotation.weight == "equal":
        for firm_id in weights:
            weights[firm_id] = 1.0
    for firm_id, firm in sorted(firms.items(), key=lambda kv: kv[1].code):
        if firm_id in eligible:
            continue
        if firm.status != "active":
            reason = "firm_suspended"
        elif firm_id in conflicts:
            reason = "conflict"
        else:
            reason = "no_eligible_lawyer"
        entry: dict[str, Any] = {"firm": firm.code, "reason": reason}
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
    assert territory_id is not None
    states = {
        firm_id: Standing(entitlement, offers)
        for firm_id, entitlement, offers in session.execute(
            sa_select(
                col(RotationState.firm_id),
                col(RotationState.entitlement),
                col(RotationState.offers),
            ).where(
                col(RotationState.territory_id) == territory_id,
                col(RotationState.firm_id).in_(list(pool.eligible)),
            )
        ).all()
    }
    missing = [firm_id for firm_id in pool.eligible if firm_id not in states]
    if missing:
        session.execute(
            insert(RotationState),
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


def workloads(session: Session, lawyer_ids: list[int], policy: Policy) -> dict[int, float]:
    """Open appointments and pending invitations of these lawyers, weighted by case category."""
    found: dict[int, float] = defaultdict(float)
    if not lawyer_ids:
        return found
    open_cases = (
        sa_select(col(Appointment.lawyer_id), col(Request.category), func.count())
        .join(Request, col(Request.id) == Appointment.request_id)
        .where(col(Appointment.closed_at).is_(None), col(Appointment.lawyer_id).in_(lawyer_ids))
        .group_by(col(Appointment.lawyer_id), col(Request.category))
    )
    offered = (
        sa_select(col(Invitation.lawyer_id), col(Request.category), func.count())
        .join(Request, col(Request.id) == Invitation.request_id)
        .where(col(Invitation.status) == "pending", col(Invitation.lawyer_id).in_(lawyer_ids))
        .group_by(col(Invitation.lawyer_id), col(Request.category))
    )
    for query in (open_cases, offered):
        for lawyer_id, category, n in session.execute(query).all():
            found[lawyer_id] += n * policy.workload.weight(category)
    return found


def _lawyer_standings(pool: Pool, firm_id: int) -> list[LawyerStanding]:
    pool.weigh(firm_id)
    return [
        LawyerStanding(
            lw.licence, pool.workload[lw.id], lw.last_offer_at, pool.expired.get(lw.id, 0)
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
    firm: Firm | None


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
    for r in ranking:
        firm_id = pool.firm_id(r.firm)
        state = states[firm_id]
        state.entitlement += r.share
        charged = 1 if firm_id == chosen_firm_id else 0
        state.offers += charged
        standing.append(
            {"firm": firm_id, "new_entitlement": state.entitlement, "new_offers": state.offers}
        )
        shares.append(
            {"decision_id": decision.id, "firm_id": firm_id, "share": r.share, "charged": charged}
        )
    # Every eligible firm's standing in one statement (executemany), not one per firm.
    rotation = ROTATION_STATE.c
    session.execute(
        update(ROTATION_STATE)
        .where(
            rotation.territory_id == pool.territory.id,
            rotation.firm_id == bindparam("firm"),
        )
        .values(entitlement=bindparam("new_entitlement"), offers=bindparam("new_offers")),
        standing,
    )
    session.execute(insert(DecisionShare), shares)
    decision.charged = True


def territories_to_try(session: Session, request: Request) -> list[Territory]:
    home = session.get(Territory, request.territory_id)
    assert home is not None
    chain = [home]
    for code in home.fallback:
        t = session.exec(select(Territory).where(Territory.code == code)).first()
        if t is not None and t not in chain:
            chain.append(t)
    return chain


def lock_territories(session: Session, territories: list[Territory]) -> None:
    """Serialise decisions in these territories: row locks, taken in one order.

    A row lock on the territory (FOR NO KEY UPDATE, so rows that merely reference the
    territory do not block it) rather than an advisory lock: it lives and dies with the
    transaction, needs no key scheme, and SQLite, whose writers are already serialised,
    simply ignores it. The chain head comes first: see `audit.lock_head`.
    """
    audit.lock_head(session)
    for territory in sorted(territories, key=lambda t: t.id or 0):
        session.get(
            Territory, territory.id, with_for_update={"key_share": True}, populate_existing=True
        )


def lock_lawyer(session: Session, lawyer_id: int) -> Lawyer:
    """Lock the chosen lawyer, whose cap may be shared with decisions in other territories."""
    lawyer = session.get(
        Lawyer, lawyer_id, with_for_update={"key_share": True}, populate_existing=True
    )
    assert lawyer is not None
    return lawyer


def _first_within_cap(session: Session, queue: list[LawyerRow]) -> Lawyer | None:
    """The first lawyer of the queue still under the cap once locked (None: all full)."""
    for row in queue:
        lawyer = lock_lawyer(session, row.id)
        if open_load(session, row.id) < lawyer.max_open:
            return lawyer
    return None


def open_load(session: Session, lawyer_id: int) -> int:
    """Open appointments plus pending invitations: what the cap counts."""
    appointments = session.exec(
        select(func.count())
        .select_from(Appointment)
        .where(Appointment.lawyer_id == lawyer_id, col(Appointment.closed_at).is_(None))
    ).one()
    pending = session.exec(
        select(func.count())
        .select_from(Invitation)
        .where(Invitation.lawyer_id == lawyer_id, Invitation.status == "pending")
    ).one()
    return int(appointments) + int(pending)


def _decision(
    request: Request,
    territory: Territory,
    policy: Policy,
    kind: str,
    via: str | None,
    explanation: dict[str, Any],
) -> Decision:
    assert territory.id is not None
    return Decision(
        request_id=request.id,
        territory_id=territory.id,
        kind=kind,
        via_fallback=via,
        policy_version=policy.version,
        explanation={"kind": kind, "policy_version": policy.version, **explanation},
    )


def decide_rotation(
    session: Session, request: Request, policy_for: Any, *, note: str | None = None
) -> Outcome:
    """Give the turn for `request`: the territory first, then its fallbacks in order."""
    started = time.perf_counter()
    now = utcnow()
    tried: list[dict[str, Any]] = []
    chain = territories_to_try(session, request)
    lock_territories(session, chain)
    for territory in chain:
        assert territory.id is not None
        policy = policy_for(territory.code)
        lawyer: Lawyer | None = None
        pool = build_pool(session, request, territory, policy, now)
        if pool.eligible:
            turn, states, queue = take_turn(session, pool, request, policy)
            firm_id = pool.firm_id(turn.firm)
            lawyer = _first_within_cap(session, queue)
            if lawyer is None:
                # A decision in another territory filled a shared lawyer's cap after the pool
                # was read; read it again, now that those lawyers are locked and counted.
                pool = build_pool(session, request, territory, policy, now)
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
                        "last_offer_at": lw.last_offer_at.isoformat() if lw.last_offer_at else None,
                        **({"expired_recently": pool.expired.get(lw.id, 0)} if pool.learn else {}),
                    }
                    for lw in queue
                ],
                "chosen": {"firm": pool.firms[firm_id].code, "lawyer": lawyer.licence},
                "tried": tried,
            },
        )
        decision.firm_id, decision.lawyer_id = firm_id, lawyer.id
        session.add(decision)
        session.flush()
        _charge(session, decision, pool, list(turn.ranking), states, firm_id)
        lawyer.last_offer_at = now
        session.add(lawyer)
        session.add(decision)
        DECISION_SECONDS.labels("rotation").observe(time.perf_counter() - started)
        return Outcome(decision, lawyer, session.get(Firm, firm_id))
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
    session.add(decision)
    session.flush()
    DECISION_SECONDS.labels("rotation").observe(time.perf_counter() - started)
    return Outcome(decision, None, None)


def request_territory_code(session: Session, request: Request) -> str:
    t = session.get(Territory, request.territory_id)
    return t.code if t else ""


def regional_list(
    session: Session, request: Request, policy: Policy, rng: random.Random
) -> tuple[Decision, list[dict[str, Any]]]:
    """The tablet list: the lawyers of the firms next in turn, shuffled (or a starving firm's)."""
    now = utcnow()
    territory = session.get(Territory, request.territory_id)
    assert territory is not None and territory.id is not None
    pool = build_pool(session, request, territory, policy, now)
    ranking = rank(session, pool)[0] if pool.eligible else []
    starving = [r for r in ranking if r.shortfall - r.share >= policy.rotation.starvation_shortfall]
    firms_shown: list[RankedFirm]
    per_firm = policy.choice.lawyers_per_firm
    if starving:
        firms_shown = [max(starving, key=lambda r: (r.shortfall - r.share, r.firm))]
        per_firm = policy.choice.list_size
        rule = "starving_firm_alone"
    else:
        firms_shown = ranking
        rule = "next_in_rotation"
    options: list[dict[str, Any]] = []
    for r in firms_shown:
        firm_id = pool.firm_id(r.firm)
        for lawyer in lawyers_in_turn(pool, firm_id)[:per_firm]:
            if len(options) >= policy.choice.list_size:
                break
            options.append(
                {
                    "lawyer": lawyer.licence,
                    "name": lawyer.name,
                    "firm": r.firm,
                    "languages": list(lawyer.languages),
                }
            )
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
    session.add(decision)
    session.flush()
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
    territory = session.get(Territory, request.territory_id)
    assert territory is not None and territory.id is not None
    lock_territories(session, [territory])
    assert lawyer.id is not None
    lawyer_id = lawyer.id
    lawyer = lock_lawyer(session, lawyer_id)
    pool = build_pool(session, request, territory, policy, now)
    reason = pool.exclusion(lawyer_id, lawyer.licence)
    if reason is not None:
        return reason
    ranking, states = rank(session, pool)
    firm = session.get(Firm, lawyer.firm_id)
    assert firm is not None
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
    session.add(decision)
    session.flush()
    if policy.rotation.charge_choices:
        assert firm.id is not None
        _charge(session, decision, pool, ranking, states, firm.id)
    lawyer.last_offer_at = now
    session.add(lawyer)
    session.add(decision)
    DECISION_SECONDS.labels("choice").observe(time.perf_counter() - started)
    return Outcome(decision, lawyer, firm)
