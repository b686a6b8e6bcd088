"""What a decision records of itself: the explanation stored with it and hashed into the audit.

Types only: the dictionaries are built where the decision is taken, and their keys, order and
values are the stored JSON's, which the audit chain hashes (so a change here is a change of
the record, never of its bytes). `TypedDict`s from `typing_extensions`, so that pydantic can
describe them as they are (`Explanation` is the request's explanation the API gives).
"""

from __future__ import annotations

from typing import NotRequired, Required, cast

from typing_extensions import TypedDict

from dispatcher.models import Choice, Decision, Request, TabletOption
from policies.quota import RankedFirmRecord
from policies.vocabulary import ChoiceKind, DecisionKind

__all__ = [
    "BatchRecord",
    "ChoiceExplanation",
    "ChoiceRecord",
    "ChosenLawyer",
    "DecisionExplanation",
    "ExcludedFirm",
    "ExcludedLawyer",
    "Explanation",
    "ListExplanation",
    "ListedOption",
    "PoolSummary",
    "QueuedLawyer",
    "RankedFirmRecord",
    "RecordedDecision",
    "RotationExplanation",
    "RuleRecord",
    "TabletOption",
    "UnfilledExplanation",
    "explained",
]


class ExcludedLawyer(TypedDict):
    """A lawyer the rules excluded, and why (a reason of `policies/eligibility.py`)."""

    licence: str
    firm: str
    reason: str


class ExcludedFirm(TypedDict):
    """A firm with no eligible lawyer, and why; `detail` names a conflict."""

    firm: str
    reason: str
    detail: NotRequired[str]


class PoolSummary(TypedDict):
    """One territory tried: the firms eligible there and every exclusion."""

    territory: str
    eligible_firms: list[str]
    excluded_firms: list[ExcludedFirm]
    excluded_lawyers: list[ExcludedLawyer]
    # Only paused lawyers could be invited here: the pause was set aside (policy [pause]).
    pause_waived: NotRequired[bool]


class RuleRecord(TypedDict, total=False):
    """The rotation rule's name and its reasons (`Turn.how`: each rule gives some of these)."""

    name: Required[str]
    firm_order: str
    lawyer_order: str
    drawn: int  # the lottery's draw
    shown: list[str]  # the wheel's names shown
    picked: str  # the wheel's pick: "first" or "favourite"


class QueuedLawyer(TypedDict):
    """A lawyer of the turn firm, in the order tried, with what ordered them."""

    licence: str
    load: int
    workload: float
    last_offer_at: str | None
    # Their own standing in the territory's rotation, this decision's share included: what
    # ordered them first (decisions of policies before 2026.2 have none).
    entitlement: NotRequired[float]
    offers: NotRequired[int]
    shortfall: NotRequired[float]
    # Let an invitation lapse within the pause window: a detention goes first to those who did
    # not (policy [pause] detentions_to_answering; recorded for detentions only).
    lapsed: NotRequired[bool]


class ChosenLawyer(TypedDict):
    firm: str
    lawyer: str


class ListedOption(TypedDict):
    """A line of the tablet list as the list's decision records it."""

    position: int
    lawyer: str
    firm: str


class BatchRecord(TypedDict):
    """What a decision of a batch records of the batch (stored in its explanation)."""

    size: int  # court orders in the batch
    territory: str  # the territory whose flow decided this one
    round: int  # 0: the home territory; 1, 2, ...: its fallbacks in order
    persons: int  # persons in this territory's flow
    assigned: int  # of them, given a lawyer by it
    solves: int
    repaired: int
    arcs_dropped: int
    solve_ms: float
    max_deviation: float  # the largest |offers - entitlement| of the territory's firms after
    firm_deviations: dict[str, float]


class RotationExplanation(TypedDict):
    """A rotation turn that found a lawyer."""

    kind: DecisionKind
    policy_version: str
    territory: str
    via_fallback: str | None
    fallback_rule: str | None
    note: str | None
    rule: RuleRecord
    ranking: list[RankedFirmRecord]
    lawyer_queue: list[QueuedLawyer]
    chosen: ChosenLawyer
    tried: list[PoolSummary]
    batch: NotRequired[BatchRecord]  # decided with others in one batch (`allocation.batch`)
    # Why this lawyer of the firm: "A-0117 is 2.3 below their share in F046".
    lawyer_turn: NotRequired[str]


class UnfilledExplanation(TypedDict):
    """A rotation turn that found no eligible lawyer in the territory or its fallbacks."""

    kind: DecisionKind
    policy_version: str
    territory: str
    note: str | None
    chosen: None
    tried: list[PoolSummary]
    outcome: str


class ChoiceExplanation(TypedDict):
    """The suspect's chosen lawyer, recorded as the decision."""

    kind: DecisionKind
    policy_version: str
    territory: str
    chosen: ChosenLawyer
    charged: bool
    ranking: list[RankedFirmRecord]
    tried: list[PoolSummary]


class ListExplanation(TypedDict):
    """The tablet list: which rule chose the firms shown, and the lines in their order."""

    kind: DecisionKind
    policy_version: str
    territory: str
    rule: str
    ranking: list[RankedFirmRecord]
    options: list[ListedOption]
    tried: list[PoolSummary]


DecisionExplanation = (
    RotationExplanation | UnfilledExplanation | ChoiceExplanation | ListExplanation
)


class RecordedDecision(TypedDict):
    """A stored decision as the request's explanation lists it: its id and time, then the keys
    of its kind's explanation (one of `DecisionExplanation`; those not every kind has are
    marked not required)."""

    id: int
    at: str
    kind: DecisionKind
    policy_version: str
    territory: str
    via_fallback: NotRequired[str | None]
    fallback_rule: NotRequired[str | None]
    note: NotRequired[str | None]
    rule: NotRequired[RuleRecord | str]
    ranking: NotRequired[list[RankedFirmRecord]]
    lawyer_queue: NotRequired[list[QueuedLawyer]]
    chosen: NotRequired[ChosenLawyer | None]
    lawyer_turn: NotRequired[str]
    charged: NotRequired[bool]
    options: NotRequired[list[ListedOption]]
    tried: list[PoolSummary]
    outcome: NotRequired[str]
    batch: NotRequired[BatchRecord]


class ChoiceRecord(TypedDict):
    """What the suspect chose, with the list as shown."""

    kind: ChoiceKind
    position: int | None
    options: list[TabletOption]
    language: str
    chosen_at: str


class Explanation(TypedDict):
    """Every decision taken for a request, with its full explanation, and the choices made."""

    request_id: str
    status: str
    decisions: list[RecordedDecision]
    choices: list[ChoiceRecord]


def explained(request: Request, decisions: list[Decision], choices: list[Choice]) -> Explanation:
    """The request's explanation from its stored decisions (in order) and choices."""
    # The JSON columns hold what the decisions and the tablet wrote (the types above).
    return {
        "request_id": request.id,
        "status": request.status,
        "decisions": [
            cast(
                "RecordedDecision",
                {"id": d.id, "at": d.created_at.isoformat(), **d.explanation},
            )
            for d in decisions
        ],
        "choices": [
            {
                "kind": ChoiceKind(c.kind),
                "position": c.position,
                "options": c.options,
                "language": c.language,
                "chosen_at": c.chosen_at.isoformat(),
            }
            for c in choices
        ],
    }
