"""The tablet list: the lawyers a suspect may choose from, recorded as a decision."""

from __future__ import annotations

import random

from sqlmodel import Session

from dispatcher.allocation.decision import new_decision, save_decision
from dispatcher.allocation.pool import build_pool, lawyers_in_turn
from dispatcher.allocation.record import ListExplanation, TabletOption
from dispatcher.allocation.registry_facts import LawyerRow, kept_registry
from dispatcher.allocation.standings import rank, read_standings
from dispatcher.db import utcnow
from dispatcher.models import Decision, Request
from policies.config import Policy
from policies.quota import RankedFirm
from policies.vocabulary import DecisionKind, RuleName


def regional_list(
    session: Session, request: Request, policy: Policy, rng: random.Random
) -> tuple[Decision, list[TabletOption]]:
    """The tablet list: the lawyers of the firms next in turn, shuffled (or a starving firm's).

    With `[choice] firms_in_turn_only`, only the firms a choice would not carry more than the
    rotation's slack above their entitlement are shown (the rule's `within_quota`; the slack is
    Tijdeman's, or with `in_turn_bound = "rotation"` the bound the rule keeps now): a choice
    is charged to the chosen firm, so whatever the suspect picks, every firm stays within the
    bound the rotation keeps. Otherwise a small firm listed at every hand-over is chosen more
    often than its share, and no rotation turn can take that back. A list left short by the
    few firms shown is filled with further lawyers of those firms, in turn.
    """
    now = utcnow()
    kept = kept_registry(session)
    territory = kept.territories[request.territory_id]
    pool = build_pool(session, request, kept.facts_of(session, territory), policy, now)
    # "In turn" by the bound the rotation keeps now (B* on its track), or by Tijdeman's.
    optimum = (
        policy.choice.in_turn_bound == "rotation"
        and policy.rotation.rule == RuleName.QUOTA
        and policy.rotation.firm_bound == "optimum"
    )
    states = read_standings(session, territory.id) if pool.eligible else {}
    ranking = rank(session, pool, states, optimum=optimum) if pool.eligible else []
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
    shown = picked[: policy.choice.list_size]
    # The shuffle depends only on the list's length: the lines are numbered once it is done.
    rng.shuffle(shown)
    options: list[TabletOption] = [
        {
            "lawyer": lawyer.licence,
            "name": lawyer.name,
            "firm": firm,
            "languages": list(lawyer.languages),
            "position": position,
        }
        for position, (firm, lawyer) in enumerate(shown, start=1)
    ]
    explanation: ListExplanation = {
        "kind": DecisionKind.LIST,
        "policy_version": policy.version,
        "territory": territory.code,
        "rule": rule,
        "ranking": [r.as_dict() for r in ranking],
        "options": [
            {"position": o["position"], "lawyer": o["lawyer"], "firm": o["firm"]} for o in options
        ],
        "tried": [pool.summary()],
    }
    decision = new_decision(request, territory, policy, None, explanation)
    save_decision(session, decision)
    return decision, options
