"""The decision: whose turn it is, or the suspect's choice, recorded in full and charged.

Decisions in one territory are serialised by a lock on the territory's row, taken before the
rotation's standings are read; the chosen lawyer is locked too, since a lawyer's cap may be
shared with decisions in other territories.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from prometheus_client import Histogram
from sqlmodel import Session

from dispatcher import audit
from dispatcher.allocation.pool import build_pool, queue_record
from dispatcher.allocation.record import (
    ChoiceExplanation,
    DecisionExplanation,
    PoolSummary,
    QueuedLawyer,
    RotationExplanation,
    RuleRecord,
    UnfilledExplanation,
)
from dispatcher.allocation.registry_facts import FirmRow, LawyerRow, TerritoryRow, kept_registry
from dispatcher.allocation.standings import charge, rank, read_standings, take_turn
from dispatcher.allocation.statements import (
    DECISION,
    LAST_OFFERED,
    LOCK_LAWYER_LOAD,
    LOCK_TERRITORIES,
    NEW_DECISION,
    OPEN_LOAD,
)
from dispatcher.db import utcnow
from dispatcher.models import Decision, Lawyer, Request
from policies.config import Policy
from policies.vocabulary import DecisionKind, LawyerStatus

DECISION_SECONDS = Histogram(
    "dispatcher_decision_seconds", "Time to take one allocation decision", ["kind"]
)


class Invitee(Protocol):
    """What inviting a lawyer reads of them: a registry row (`LawyerRow`) or the ORM's."""

    @property
    def id(self) -> int | None: ...

    @property
    def licence(self) -> str: ...


@dataclass
class Outcome:
    """A rotation decision, with the lawyer to invite and their firm (None: no one eligible)."""

    decision: Decision
    lawyer: Invitee | None
    firm: FirmRow | None


@dataclass(frozen=True)
class ChoiceRecorded:
    """The suspect's chosen lawyer is still eligible: the choice is the decision, recorded."""

    decision: Decision
    lawyer: Lawyer
    firm: FirmRow


@dataclass(frozen=True)
class ChoiceExcluded:
    """The rules now exclude the chosen lawyer, for `reason`: nothing was recorded."""

    reason: str


ChoiceResult = ChoiceRecorded | ChoiceExcluded


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
    session.execute(LOCK_TERRITORIES, {"territories": sorted(t.id for t in territories)}).all()


def lock_lawyer(session: Session, lawyer_id: int) -> Lawyer:
    """Lock the chosen lawyer, whose cap may be shared with decisions in other territories."""
    lawyer = session.get(
        Lawyer, lawyer_id, with_for_update={"key_share": True}, populate_existing=True
    )
    assert lawyer is not None
    return lawyer


def _first_within_cap(session: Session, queue: list[LawyerRow]) -> LawyerRow | None:
    """The first lawyer of the queue still active and under the cap once locked (None: none).

    The pool was read before the locks: a decision in another territory may have filled a
    shared lawyer's cap, or the registry may have changed, meanwhile.
    """
    for row in queue:
        found = session.execute(LOCK_LAWYER_LOAD, {"lawyer": row.id}).one_or_none()
        if found is None:
            continue
        status, max_open, load = found
        if status == LawyerStatus.ACTIVE and load < max_open:
            return row
    return None


def open_load(session: Session, lawyer_id: int) -> int:
    """Open appointments plus pending invitations: what the cap counts."""
    return int(session.execute(OPEN_LOAD, {"lawyer": lawyer_id}).scalar_one())


def lawyer_turn(
    licence: str, shortfall: float, firm: str, passed: QueuedLawyer | None = None
) -> str:
    """Why this lawyer of the firm, in the bar's words: how far from their own share, and
    whom a detention passed over because they let an invitation lapse lately."""
    if shortfall >= 0:
        why = f"{licence} is {shortfall:.1f} below their share in {firm}"
    else:
        why = f"{licence} is {-shortfall:.1f} above their share in {firm}"
        if passed is None:
            why += " (the least above)"
    if passed is not None:
        why += (
            f"; a detention goes first to a lawyer who answers: {passed['licence']}, "
            f"{passed.get('shortfall', 0.0):.1f} below their share, let an invitation lapse lately"
        )
    return why


def passed_over(queued: list[QueuedLawyer], chosen: QueuedLawyer) -> QueuedLawyer | None:
    """The lawyer further below their share than the chosen one whom a detention passed over
    for having let an invitation lapse (None: the chosen one is furthest below, or tied)."""
    behind = [
        q
        for q in queued
        if q.get("lapsed") and q.get("shortfall", 0.0) > chosen.get("shortfall", 0.0) + 1e-9
    ]
    return max(behind, key=lambda q: q.get("shortfall", 0.0), default=None)


def new_decision(
    request: Request,
    territory: TerritoryRow,
    policy: Policy,
    via: str | None,
    explanation: DecisionExplanation,
) -> Decision:
    """The decision of this kind (the explanation's), not yet saved (`save_decision`)."""
    return Decision(
        request_id=request.id,
        territory_id=territory.id,
        kind=explanation["kind"],
        via_fallback=via,
        policy_version=policy.version,
        explanation=dict(explanation),
    )


def save_decision(session: Session, decision: Decision) -> Decision:
    """Write the decision in one statement and give it its id (the ORM's flush of one row
    costs several times the statement)."""
    values = {c.name: getattr(decision, c.name) for c in DECISION.columns if c.name != "id"}
    decision.id = session.execute(NEW_DECISION, values).scalar_one()
    return decision


def decide_rotation(
    session: Session,
    request: Request,
    policy_for: Callable[[str], Policy],
    *,
    note: str | None = None,
) -> Outcome:
    """Give the turn for `request`: the territory first, then its fallbacks in order."""
    started = time.perf_counter()
    now = utcnow()
    tried: list[PoolSummary] = []
    kept = kept_registry(session)
    chain = kept.chain(request)
    lock_territories(session, chain)
    for territory in chain:
        policy = policy_for(territory.code)
        lawyer: LawyerRow | None = None
        facts = kept.facts_of(session, territory)
        pool = build_pool(session, request, facts, policy, now)
        if pool.eligible:
            # The territory's standings, read once for this decision: a second pool below
            # sees the same rotation (nothing is charged before the decision is taken).
            states = read_standings(session, territory.id)
            turn, queue = take_turn(session, pool, request, policy, states)
            firm_id = pool.firm_id(turn.firm)
            lawyer = _first_within_cap(session, queue)
            if lawyer is None:
                # A decision in another territory filled a shared lawyer's cap after the pool
                # was read; read it again, now that those lawyers are locked and counted.
                pool = build_pool(session, request, facts, policy, now)
                if pool.eligible:
                    turn, queue = take_turn(session, pool, request, policy, states)
                    firm_id = pool.firm_id(turn.firm)
                    lawyer = _first_within_cap(session, queue)
        tried.append(pool.summary())
        if not pool.eligible or lawyer is None:
            continue
        pool.weigh(firm_id)  # the queue's workloads, for the record
        via = None if territory.id == request.territory_id else territory.code
        # The rule's name, then its reasons in the keys each rule gives (`Turn.how`).
        rule = cast(RuleRecord, {"name": policy.rotation.rule, **turn.how})
        # Each of the firm's eligible lawyers earns this part of the firm's share now.
        share = next(r.share for r in turn.ranking if r.firm == turn.firm)
        queued = queue_record(pool, firm_id, queue, share)
        chosen_at = next(q for q in queued if q["licence"] == lawyer.licence)
        explanation: RotationExplanation = {
            "kind": DecisionKind.ROTATION,
            "policy_version": policy.version,
            "territory": territory.code,
            "via_fallback": via,
            "fallback_rule": (
                f"no eligible lawyer in {tried[0]['territory']}; fallback to {via}" if via else None
            ),
            "note": note,
            "rule": rule,
            "ranking": [r.as_dict() for r in turn.ranking],
            "lawyer_queue": queued,
            "chosen": {"firm": pool.firms[firm_id].code, "lawyer": lawyer.licence},
            "tried": tried,
            "lawyer_turn": lawyer_turn(
                lawyer.licence,
                chosen_at.get("shortfall", 0.0),
                pool.firms[firm_id].code,
                passed_over(queued, chosen_at),
            ),
        }
        decision = new_decision(request, territory, policy, via, explanation)
        decision.firm_id, decision.lawyer_id, decision.charged = firm_id, lawyer.id, True
        save_decision(session, decision)
        charge(session, decision, pool, list(turn.ranking), states, firm_id, lawyer.id)
        # On the session's connection, past its registry watch (`registry_version`): the
        # last offer is the one column of a lawyer that every decision writes and none keeps.
        session.connection().execute(LAST_OFFERED, {"lawyer": lawyer.id, "at": now})
        DECISION_SECONDS.labels(DecisionKind.ROTATION).observe(time.perf_counter() - started)
        return Outcome(decision, lawyer, pool.firms[firm_id])
    home = chain[0]
    home_policy = policy_for(home.code)
    unfilled: UnfilledExplanation = {
        "kind": DecisionKind.ROTATION,
        "policy_version": home_policy.version,
        "territory": home.code,
        "note": note,
        "chosen": None,
        "tried": tried,
        "outcome": "no eligible lawyer in the territory or its fallbacks",
    }
    decision = new_decision(request, home, home_policy, None, unfilled)
    save_decision(session, decision)
    DECISION_SECONDS.labels(DecisionKind.ROTATION).observe(time.perf_counter() - started)
    return Outcome(decision, None, None)


def decide_choice(
    session: Session, request: Request, policy: Policy, lawyer: Lawyer
) -> ChoiceResult:
    """Record the suspect's chosen lawyer as the decision, if the lawyer is still eligible.

    When the rules now exclude the lawyer, records nothing and says why (`ChoiceExcluded`):
    the caller then falls back to the rotation.
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
        return ChoiceExcluded(reason)
    states = read_standings(session, territory.id)
    ranking = rank(session, pool, states)
    firm = pool.firms[lawyer.firm_id]
    explanation: ChoiceExplanation = {
        "kind": DecisionKind.CHOICE,
        "policy_version": policy.version,
        "territory": territory.code,
        "chosen": {"firm": firm.code, "lawyer": lawyer.licence},
        "charged": policy.rotation.charge_choices,
        "ranking": [r.as_dict() for r in ranking],
        "tried": [pool.summary()],
    }
    decision = new_decision(request, territory, policy, None, explanation)
    decision.firm_id, decision.lawyer_id = firm.id, lawyer.id
    decision.charged = policy.rotation.charge_choices
    save_decision(session, decision)
    if policy.rotation.charge_choices:
        charge(session, decision, pool, ranking, states, firm.id, lawyer_id)
    lawyer.last_offer_at = now
    session.add(lawyer)
    DECISION_SECONDS.labels(DecisionKind.CHOICE).observe(time.perf_counter() - started)
    return ChoiceRecorded(decision, lawyer, firm)
