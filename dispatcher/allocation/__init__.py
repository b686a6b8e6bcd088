"""Allocation decisions: who is eligible, whose turn it is, and why — recorded in full.

The package turns the database into the plain facts the rules in `policies/` read, applies
them, and writes the decision (ranked firms, every exclusion with its reason, the entitlement
and count figures, the policy version). Its parts, in the order a decision uses them:

- `statements`: the statements a decision runs, built once from the tables;
- `registry_facts`: the registry's firms, lawyers and standing exclusions, kept per version;
- `pool`: eligibility for one request, and the workloads that order a firm's lawyers;
- `standings`: the firms' standings in the rotation, ranked and charged;
- `decision`: the rotation's turn and the suspect's choice, with their locks;
- `tablet_list`: the list a suspect chooses from;
- `batch`: the court orders of one batch decided together (a min-cost flow);
- `pause`: the bounded pause of a lawyer who lets invitations lapse;
- `record`: the types of what a decision records (its explanation).

Callers use the names below through the package (`allocation.decide_rotation`), which is also
where a benchmark wraps them.
"""

from dispatcher.allocation.batch import decide_batch
from dispatcher.allocation.bounds import prime_bounds
from dispatcher.allocation.decision import (
    DECISION_SECONDS,
    ChoiceExcluded,
    ChoiceRecorded,
    ChoiceResult,
    Invitee,
    Outcome,
    decide_choice,
    decide_rotation,
    lock_lawyer,
    lock_territories,
    open_load,
)
from dispatcher.allocation.pause import after_lapse, current_pause
from dispatcher.allocation.pool import (
    Pool,
    Weighed,
    WorkloadReader,
    build_pool,
    conflicted_firms,
    lawyers_in_turn,
    workloads,
)
from dispatcher.allocation.record import (
    ChoiceExplanation,
    ChoiceRecord,
    DecisionExplanation,
    Explanation,
    ListExplanation,
    PoolSummary,
    RecordedDecision,
    RotationExplanation,
    TabletOption,
    UnfilledExplanation,
    explained,
)
from dispatcher.allocation.registry_facts import (
    FirmRow,
    LawyerRow,
    Registry,
    TerritoryFacts,
    TerritoryRow,
    forget_registry,
    kept_registry,
    prime,
    request_territory_code,
)
from dispatcher.allocation.standings import Standing, rank, read_standings, take_turn
from dispatcher.allocation.statements import ROTATION_STATE
from dispatcher.allocation.tablet_list import regional_list

__all__ = [
    "DECISION_SECONDS",
    "ROTATION_STATE",
    "ChoiceExcluded",
    "ChoiceExplanation",
    "ChoiceRecord",
    "ChoiceRecorded",
    "ChoiceResult",
    "DecisionExplanation",
    "Explanation",
    "FirmRow",
    "Invitee",
    "LawyerRow",
    "ListExplanation",
    "Outcome",
    "Pool",
    "PoolSummary",
    "RecordedDecision",
    "Registry",
    "RotationExplanation",
    "Standing",
    "TabletOption",
    "TerritoryFacts",
    "TerritoryRow",
    "UnfilledExplanation",
    "Weighed",
    "WorkloadReader",
    "after_lapse",
    "build_pool",
    "conflicted_firms",
    "current_pause",
    "decide_batch",
    "decide_choice",
    "decide_rotation",
    "explained",
    "forget_registry",
    "kept_registry",
    "lawyers_in_turn",
    "lock_lawyer",
    "lock_territories",
    "open_load",
    "prime",
    "prime_bounds",
    "rank",
    "read_standings",
    "regional_list",
    "request_territory_code",
    "take_turn",
    "workloads",
]
