"""Court orders of one batch (mass detentions) allocated together by a min-cost flow.

One at a time, the rotation decides greedily: the fiftieth person of a protest gets whatever
the first forty-nine left. Together, every person is matched at once: each person to one
lawyer eligible for them (every rule of a single decision, read from the same `build_pool`),
no lawyer twice, co-defendants of one case (same case number) in distinct firms, and each
firm's count after the batch as close to its entitlement as the eligibility allows.

The flow (`plan`, a pure function): source → person → (case, firm) → lawyer → firm → sink.
The (case, firm) node has capacity 1, which keeps co-defendants in distinct firms exactly;
a firm's arcs to the sink carry the convex cost of its deviation from its entitlement
(squared, plus a steep penalty beyond 1), so the cheapest maximum flow is the fairest among
the largest assignments, and keeps every firm within 1 of its entitlement whenever some
largest assignment does. A firm's lawyers carry their place in the firm's queue as a small
cost, so a firm sends the lawyer its turn would: the queue is the single decision's, for each
person (`order_lawyers` over the same standings; for a detention, with the policy's
`answering_reach`, those who let no invitation lapse lately first).

What the flow cannot express exactly: a (case, firm) node leads to the lawyers eligible for
*some* co-defendant of the case, so a person with another language than their co-defendant
may be routed to a lawyer eligible only for the other. Such a result is repaired: the person
takes an unused lawyer of the same firm eligible for them, or else loses that (case, firm)
arc and the flow is solved again (arcs only go, so it ends). Every assignment returned is
eligible (tests prove it). Likewise a (case, firm) node's arc to a lawyer costs the best place
any co-defendant gives the lawyer, so a person may be routed to a co-defendant's first: each
then moves to the first lawyer of their own queue left unused (`_first_free`).

A person the territory cannot serve goes on, with the others left, to the territory's
fallbacks in order (a flow per territory, the lawyers and co-defendants' firms already taken
excluded), and ends unfilled as a single request does.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

import numpy as np
from ortools.graph.python.min_cost_flow import SimpleMinCostFlow
from sqlmodel import Session

from dispatcher.allocation.batch_pools import BatchPools
from dispatcher.allocation.decision import (
    Outcome,
    lawyer_turn,
    lock_lawyer,
    lock_territories,
    new_decision,
    open_load,
    passed_over,
    save_decision,
)
from dispatcher.allocation.pool import Pool, queue_record
from dispatcher.allocation.record import (
    BatchRecord,
    PoolSummary,
    RotationExplanation,
    RuleRecord,
    UnfilledExplanation,
)
from dispatcher.allocation.registry_facts import LawyerRow, TerritoryRow, kept_registry
from dispatcher.allocation.standings import Standing, charge, rank, read_standings
from dispatcher.db import utcnow
from dispatcher.models import Lawyer, Request
from policies.config import Policy
from policies.quota import LawyerStanding, order_lawyers
from policies.quota_rule import lawyer_order
from policies.vocabulary import DecisionKind, LawyerStatus

# Costs are integers: a unit of squared deviation is SCALE; each unit beyond 1 of deviation
# costs PENALTY units more, so a firm leaves the band only when no largest assignment keeps it.
SCALE = 1_000_000
PENALTY = 1_000
RULE = "batch_min_cost_flow"


# --- the flow, over plain data ------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """One person of the batch: their case and, per firm, the lawyers eligible for them."""

    key: str
    case: str
    eligible: Mapping[str, Sequence[str]]  # firm -> lawyers in the firm's queue order


@dataclass(frozen=True)
class FirmTarget:
    """A firm's offers before the batch and its entitlement once the batch has earned."""

    offers: int
    entitlement: float


@dataclass
class Plan:
    """Who defends whom (person key -> (firm, lawyer)), and how the flow got there."""

    assigned: dict[str, tuple[str, str]]
    counts: dict[str, int]  # firm -> persons of this plan
    solves: int = 0
    repaired: int = 0  # persons moved to another lawyer of their firm
    arcs_dropped: int = 0  # (case, firm) arcs dropped for a person, then solved again
    solve_s: float = 0.0
    deviations: dict[str, float] = field(default_factory=dict)  # firm -> offers - entitlement


def _deviation_cost(offers: int, entitlement: float, units: int) -> int:
    d = offers + units - entitlement
    return round(SCALE * (d * d + PENALTY * max(0.0, abs(d) - 1.0)))


def plan(people: Sequence[Person], targets: Mapping[str, FirmTarget]) -> Plan:
    """The largest assignment of `people` to distinct eligible lawyers, co-defendants in
    distinct firms, with the firms' counts closest to their entitlements (see the module)."""
    started = time.perf_counter()
    banned: set[tuple[str, str]] = set()  # (person, firm) arcs dropped by the repair
    result = Plan({}, {})
    while True:
        assigned = _solve(people, targets, banned)
        result.solves += 1
        moved, dropped = _repair(people, assigned, banned)
        result.repaired += moved
        if not dropped:
            break
        result.arcs_dropped += dropped
    result.repaired += _first_free(people, assigned)
    result.assigned = assigned
    counts: dict[str, int] = defaultdict(int)
    for firm, _ in assigned.values():
        counts[firm] += 1
    result.counts = dict(counts)
    result.deviations = {
        f: round(t.offers + counts.get(f, 0) - t.entitlement, 9) for f, t in targets.items()
    }
    result.solve_s = time.perf_counter() - started
    return result


def _solve(
    people: Sequence[Person], targets: Mapping[str, FirmTarget], banned: set[tuple[str, str]]
) -> dict[str, tuple[str, str]]:
    ids: dict[object, int] = {}

    def node(key: object) -> int:
        found = ids.get(key)
        if found is None:
            found = ids[key] = len(ids)
        return found

    source, sink = node("source"), node("sink")
    tails: list[int] = []
    heads: list[int] = []
    caps: list[int] = []
    costs: list[int] = []

    def arc(tail: int, head: int, cost: int = 0) -> None:
        tails.append(tail)
        heads.append(head)
        caps.append(1)
        costs.append(cost)

    # The lawyers a (case, firm) node leads to: those eligible for any of its persons.
    case_lawyers: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    person_arcs: list[tuple[int, int, str, str]] = []  # (person node, case-firm node, ...)
    firm_units: dict[str, int] = defaultdict(int)
    for person in people:
        p = node(("person", person.key))
        arc(source, p)
        for firm, lawyers in person.eligible.items():
            if not lawyers or (person.key, firm) in banned or firm not in targets:
                continue
            cf = ids.get(("case", person.case, firm))
            if cf is None:
                # Two nodes and an arc of capacity 1 between them: one person of the case.
                cf = node(("case", person.case, firm))
                arc(cf, node(("case out", person.case, firm)))
            arc(p, cf)
            person_arcs.append((p, cf, person.key, firm))
            places = case_lawyers[(person.case, firm)]
            for place, lawyer in enumerate(lawyers):
                # Co-defendants may order a firm's lawyers apart (a detention and not): the
                # lawyer costs their best place; `_first_free` then gives each their own first.
                places[lawyer] = min(place, places.get(lawyer, place))
            firm_units[firm] += 1
    lawyer_arcs: list[tuple[int, str, str]] = []  # (arc index, firm, lawyer)
    firm_lawyers: dict[str, set[str]] = defaultdict(set)
    for (case, firm), places in case_lawyers.items():
        cf = ids[("case out", case, firm)]
        for lawyer, place in places.items():
            lawyer_arcs.append((len(tails), firm, lawyer))
            arc(cf, node(("lawyer", lawyer)), place)
            firm_lawyers[firm].add(lawyer)
    for firm, members in firm_lawyers.items():
        f = node(("firm", firm))
        for lawyer in members:
            arc(ids[("lawyer", lawyer)], f)
        target = targets[firm]
        before = _deviation_cost(target.offers, target.entitlement, 0)
        for units in range(1, min(len(members), firm_units[firm]) + 1):
            after = _deviation_cost(target.offers, target.entitlement, units)
            arc(f, sink, after - before)
            before = after
    flow = SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.array(tails, dtype=np.int64),
        np.array(heads, dtype=np.int64),
        np.array(caps, dtype=np.int64),
        np.array(costs, dtype=np.int64),
    )
    # As many as there are persons may leave the source; the solver sends the largest flow.
    flow.set_node_supply(source, len(people))
    flow.set_node_supply(sink, -len(people))
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"the batch's flow was not solved: {status}")
    flows = flow.flows(np.arange(len(tails), dtype=np.int64))
    # Persons through (case, firm) nodes, then the lawyer each (case, firm) node fed.
    index = {(tails[i], heads[i]): i for i in range(len(tails))}
    chosen_case_firm: dict[tuple[str, str], str] = {}
    by_node = {v: k for k, v in ids.items()}
    for p, cf, key, firm in person_arcs:
        if flows[index[(p, cf)]]:
            _, case, _ = cast(tuple[str, str, str], by_node[cf])
            chosen_case_firm[(case, firm)] = key
    assigned: dict[str, tuple[str, str]] = {}
    for i, firm, lawyer in lawyer_arcs:
        if flows[i]:
            _, case, _ = cast(tuple[str, str, str], by_node[tails[i]])
            assigned[chosen_case_firm[(case, firm)]] = (firm, lawyer)
    return assigned


def _repair(
    people: Sequence[Person], assigned: dict[str, tuple[str, str]], banned: set[tuple[str, str]]
) -> tuple[int, int]:
    """Give each person routed to a lawyer not eligible for them an unused eligible lawyer of
    the same firm; where there is none, drop that (case, firm) arc for the person.

    Returns (persons moved, arcs dropped): a dropped arc means solve again.
    """
    used = {lawyer for _, lawyer in assigned.values()}
    moved = dropped = 0
    for person in people:
        got = assigned.get(person.key)
        if got is None:
            continue
        firm, lawyer = got
        mine = person.eligible.get(firm, ())
        if lawyer in mine:
            continue
        spare = next((lw for lw in mine if lw not in used), None)
        if spare is None:
            banned.add((person.key, firm))
            dropped += 1
            continue
        used.discard(lawyer)
        used.add(spare)
        assigned[person.key] = (firm, spare)
        moved += 1
    return moved, dropped


def _first_free(people: Sequence[Person], assigned: dict[str, tuple[str, str]]) -> int:
    """Move each person to the first lawyer of their own firm queue left unused, where the
    flow gave them a later one (a (case, firm) node's arcs cost the best place of any
    co-defendant, so a person may be routed to a co-defendant's first). Returns the moves.

    A move keeps the firm and takes only an unused lawyer, so it keeps every rule; each move
    puts a person strictly earlier in their queue, so it ends.
    """
    used = {lawyer for _, lawyer in assigned.values()}
    moved = 0
    again = True
    while again:
        again = False
        for person in people:
            got = assigned.get(person.key)
            if got is None:
                continue
            firm, lawyer = got
            first = next(lw for lw in person.eligible[firm] if lw == lawyer or lw not in used)
            if first != lawyer:
                used.discard(lawyer)
                used.add(first)
                assigned[person.key] = (firm, first)
                moved += 1
                again = True
    return moved


# --- the decisions, from the database -------------------------------------------------------


def decide_batch(
    session: Session, requests: Sequence[Request], policy_for: Callable[[str], Policy]
) -> dict[str, Outcome]:
    """Decide the court orders of one batch together (see the module); every request gets an
    `Outcome`: a lawyer and firm to invite, or none (its decision records it unfilled)."""
    now = utcnow()
    kept = kept_registry(session)
    chains = {r.id: kept.chain(r) for r in requests}
    lock_territories(session, list({t.id: t for c in chains.values() for t in c}.values()))
    by_id = {r.id: r for r in requests}
    tried: dict[str, list[PoolSummary]] = defaultdict(list)
    taken_lawyers: set[int] = set()
    case_firms: dict[str, set[int]] = defaultdict(set)  # case number -> firms already given
    outcomes: dict[str, Outcome] = {}
    waiting = [r.id for r in requests]
    depth = 0
    while waiting:
        groups: dict[int, list[str]] = defaultdict(list)
        for rid in waiting:
            if depth < len(chains[rid]):
                groups[chains[rid][depth].id].append(rid)
        if not groups:
            break
        for territory_id, rids in sorted(groups.items()):
            territory = kept.territories[territory_id]
            _decide_round(
                session,
                [by_id[r] for r in rids],
                territory,
                policy_for(territory.code),
                now=now,
                depth=depth,
                size=len(requests),
                home=chains,
                tried=tried,
                taken_lawyers=taken_lawyers,
                case_firms=case_firms,
                outcomes=outcomes,
            )
        waiting = [rid for rid in waiting if rid not in outcomes]
        depth += 1
    for rid in waiting:
        request = by_id[rid]
        home = chains[rid][0]
        home_policy = policy_for(home.code)
        unfilled: UnfilledExplanation = {
            "kind": DecisionKind.ROTATION,
            "policy_version": home_policy.version,
            "territory": home.code,
            "note": f"decided in a batch of {len(requests)}",
            "chosen": None,
            "tried": tried[rid],
            "outcome": "no eligible lawyer in the territory or its fallbacks",
        }
        decision = new_decision(request, home, home_policy, None, unfilled)
        save_decision(session, decision)
        outcomes[rid] = Outcome(decision, None, None)
    return outcomes


def _decide_round(
    session: Session,
    requests: list[Request],
    territory: TerritoryRow,
    policy: Policy,
    *,
    now: datetime,
    depth: int,
    size: int,
    home: dict[str, list[TerritoryRow]],
    tried: dict[str, list[PoolSummary]],
    taken_lawyers: set[int],
    case_firms: dict[str, set[int]],
    outcomes: dict[str, Outcome],
) -> None:
    kept = kept_registry(session)
    facts = kept.facts_of(session, territory)
    # One read of what the batch's persons share here; each person's pool as `build_pool`'s.
    shared = BatchPools(session, facts, policy, now)
    pools = {r.id: shared.pool(r) for r in requests}
    states = read_standings(session, territory.id)
    targets: dict[str, FirmTarget] = {}
    earned: dict[int, float] = defaultdict(float)
    firm_codes: dict[int, str] = {}
    for rid, pool in pools.items():
        tried[rid].append(pool.summary())
        for ranked in rank(session, pool, states):
            earned[pool.firm_id(ranked.firm)] += ranked.share
    for firm_id, state in states.items():
        code = facts.firms[firm_id].code if firm_id in facts.firms else None
        if code is None:
            continue
        firm_codes[firm_id] = code
        targets[code] = FirmTarget(state.offers, state.entitlement + earned.get(firm_id, 0.0))
    # Each firm's lawyers in the order its turn would try them for each person.
    queues = FirmQueues(pools)
    people: list[Person] = []
    licence_of: dict[str, int] = {}
    for request in requests:
        pool = pools[request.id]
        taken_firms = case_firms[request.case_number]
        eligible: dict[str, list[str]] = {}
        for firm_id in pool.eligible:
            if firm_id in taken_firms or pool.weights.get(firm_id, 0.0) <= 0:
                continue
            free = [lw for lw in queues.queue(pool, firm_id) if lw.id not in taken_lawyers]
            if free:
                eligible[pool.firms[firm_id].code] = [lw.licence for lw in free]
                licence_of.update((lw.licence, lw.id) for lw in free)
        people.append(Person(request.id, request.case_number, eligible))
    result = plan(people, targets)
    firm_by_code = {code: firm_id for firm_id, code in firm_codes.items()}
    figures: BatchRecord = {
        "size": size,
        "territory": territory.code,
        "round": depth,
        "persons": len(requests),
        "assigned": len(result.assigned),
        "solves": result.solves,
        "repaired": result.repaired,
        "arcs_dropped": result.arcs_dropped,
        "solve_ms": round(result.solve_s * 1000, 3),
        "max_deviation": max((abs(d) for d in result.deviations.values()), default=0.0),
        "firm_deviations": dict(sorted(result.deviations.items())),
    }
    for request in requests:
        got = result.assigned.get(request.id)
        if got is None:
            continue
        firm_id, lawyer_id = firm_by_code[got[0]], licence_of[got[1]]
        lawyer = lock_lawyer(session, lawyer_id)
        if lawyer.status != LawyerStatus.ACTIVE or open_load(session, lawyer_id) >= lawyer.max_open:
            continue  # changed since the pool was read: the request goes on to the fallbacks
        pool = pools[request.id]
        taken_lawyers.add(lawyer_id)
        case_firms[request.case_number].add(firm_id)
        outcomes[request.id] = _record(
            session, request, pool, queues, states, policy, firm_id, lawyer, home, tried, figures
        )
        lawyer.last_offer_at = now
        session.add(lawyer)


class FirmQueues:
    """Each firm's eligible lawyers in the order a single decision would try them for a person
    (`order_lawyers` over the lawyers' standings; for a detention, with the policy's
    `answering_reach`), their workloads, standings and lapses read once for the batch."""

    def __init__(self, pools: Mapping[str, Pool]) -> None:
        self._standing: dict[int, LawyerStanding] = {}
        self._orders: dict[tuple[tuple[int, ...], float | None], list[LawyerRow]] = {}
        rows = {
            lw.id: lw for pool in pools.values() for lws in pool.eligible.values() for lw in lws
        }
        # A detention's reader also reads who let an invitation lapse (the same moment and
        # policy for every detention of the batch here).
        reader = next(
            (p.weigher for p in pools.values() if p.answering_reach is not None),
            next((p.weigher for p in pools.values()), None),
        )
        if reader is None:
            return
        weighed = reader(sorted(rows))
        for lawyer_id, row in rows.items():
            self._standing[lawyer_id] = LawyerStanding(
                row.licence,
                weighed.workload.get(lawyer_id, 0.0),
                weighed.last_offer.get(lawyer_id),
                *weighed.standing.get(lawyer_id, (0.0, 0)),
                lapsed=lawyer_id in weighed.lapsed,
            )
        for pool in pools.values():
            # The record's queue shows the same figures as a single decision's.
            pool.workload.update(weighed.workload)
            pool.load.update(weighed.load)
            pool.last_offer.update(weighed.last_offer)
            pool.standing.update(weighed.standing)
            if pool.answering_reach is not None:
                pool.lapsed.update(weighed.lapsed)
            pool.weighed_firms.update(pool.eligible)

    def queue(self, pool: Pool, firm_id: int) -> list[LawyerRow]:
        """The firm's eligible lawyers for this pool's person, the one to invite first."""
        lawyers = pool.eligible[firm_id]
        reach = pool.answering_reach
        key = (tuple(lw.id for lw in lawyers), reach)
        found = self._orders.get(key)
        if found is None:
            by_licence = {lw.licence: lw for lw in lawyers}
            ordered = order_lawyers(
                [self._standing[lw.id] for lw in lawyers], answering_reach=reach
            )
            found = self._orders[key] = [by_licence[s.licence] for s in ordered]
        return found


def _record(
    session: Session,
    request: Request,
    pool: Pool,
    queues: FirmQueues,
    states: dict[int, Standing],
    policy: Policy,
    firm_id: int,
    lawyer: Lawyer,
    home: dict[str, list[TerritoryRow]],
    tried: dict[str, list[PoolSummary]],
    figures: BatchRecord,
) -> Outcome:
    territory = pool.territory
    ranking = rank(session, pool, states)
    via = None if territory.id == request.territory_id else territory.code
    first = home[request.id][0].code
    rule = cast(
        RuleRecord,
        {
            "name": RULE,
            "firm_order": "min-cost flow over the batch: firms' counts closest to entitlement",
            "lawyer_order": "the firm's queue, as a single decision's: "
            + lawyer_order(pool.answering_reach),
        },
    )
    # The firm's queue for this person, as a single decision records it: each lawyer's own
    # standing with this decision's share, and for a detention who let an invitation lapse.
    firm = pool.firms[firm_id].code
    share = next(r.share for r in ranking if r.firm == firm)
    queue = queue_record(pool, firm_id, queues.queue(pool, firm_id), share)
    chosen_at = next(q for q in queue if q["licence"] == lawyer.licence)
    explanation: RotationExplanation = {
        "kind": DecisionKind.ROTATION,
        "policy_version": policy.version,
        "territory": territory.code,
        "via_fallback": via,
        "fallback_rule": (
            f"no lawyer left in {first} for the batch; fallback to {via}" if via else None
        ),
        "note": f"decided in a batch of {figures['size']}",
        "rule": rule,
        "ranking": [r.as_dict() for r in ranking],
        "lawyer_queue": queue,
        "chosen": {"firm": firm, "lawyer": lawyer.licence},
        "tried": list(tried[request.id]),
        "batch": figures,
        "lawyer_turn": lawyer_turn(
            lawyer.licence, chosen_at.get("shortfall", 0.0), firm, passed_over(queue, chosen_at)
        ),
    }
    decision = new_decision(request, territory, policy, via, explanation)
    decision.firm_id, decision.lawyer_id, decision.charged = firm_id, lawyer.id, True
    save_decision(session, decision)
    assert lawyer.id is not None
    charge(session, decision, pool, ranking, states, firm_id, lawyer.id)
    return Outcome(decision, lawyer, pool.firms[firm_id])
