"""The shapes of the report's figures, one TypedDict per row or block.

They are the JSON the API answers (FastAPI publishes them as the response schemas) and what
the nightly snapshot hashes into the audit chain: plain dicts at run time, so the canonical JSON
of a report is the same bytes whichever code built it. Definitions of the figures are in
`dispatcher.reports.fairness` and `dispatcher.reports.flags`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from typing_extensions import TypedDict


class StageFigures(TypedDict):
    """One firm's figures for the rotation's offers or for the suspects' charged choices."""

    entitlement: float
    offers: int
    accepted: int
    declined: int
    expired: int
    deviation: float


class FirmFigures(TypedDict):
    firm: str
    weight: Annotated[int, Field(description="Active lawyers of the firm in the territory (today)")]
    entitlement: Annotated[float, Field(description="Σ the firm's share at each charged decision")]
    offers: Annotated[int, Field(description="Charged decisions that went to the firm")]
    rotation_offers: int
    chosen: Annotated[int, Field(description="Charged suspects' choices of the firm's lawyers")]
    accepted: int
    declined: int
    expired: int
    deviation: Annotated[float, Field(description="offers − entitlement")]
    acceptance_rate: float | None
    decline_rate: float | None
    expiry_rate: float | None
    declined_by_reason: dict[str, int]
    stages: Annotated[dict[str, StageFigures], Field(description="`rotation` and `choice` apart")]


class LawyerFigures(TypedDict):
    lawyer: str
    firm: str
    invitations: int
    chosen: int
    accepted: int
    declined: int
    expired: int
    appointments: int
    acceptance_rate: float | None
    decline_rate: float | None
    # The lawyer's own entitlement over the period's charged decisions (each eligible firm's
    # share split equally among its eligible lawyers), the offers charged to them, and
    # `deviation = offers - entitlement`.
    entitlement: float
    offers: int
    deviation: float


class CounselTimes(TypedDict):
    requests: int
    assigned: int
    p50_s: int | None
    p90_s: int | None
    p99_s: int | None
    mean_s: float | None


class ChiSquare(TypedDict):
    statistic: float | None
    dof: int
    p_value: float | None


class ChoiceFirm(TypedDict):
    firm: str
    chosen: int
    expected: Annotated[
        float, Field(description="Σ over the lists shown of its lawyers / list length")
    ]


class ChoiceStage(TypedDict):
    choices: int
    by_kind: dict[str, int]
    firms: list[ChoiceFirm]
    chi_square: ChiSquare


class PositionCount(TypedDict):
    position: int
    chosen: int
    expected: Annotated[
        float, Field(description="Σ over lists with this position of 1 / list length")
    ]


class PositionCounts(TypedDict):
    positions: list[PositionCount]
    chi_square: ChiSquare


class Concentration(TypedDict):
    """The Texas test over a territory's listed lawyers (unrounded)."""

    listed: int
    appointments: int
    top10_lawyers: int
    top10_share: float
    top10_limit: float


# `from` is a Python keyword: the keys that open the report are declared the functional way.
_Period = TypedDict("_Period", {"territory": str, "from": str | None, "to": str | None})


class FairnessReport(_Period):
    """Every figure of one territory over a period (defined in `dispatcher.reports.fairness`)."""

    decisions: int
    max_abs_deviation: float
    max_deviation: float
    min_deviation: float
    loosemore_hanby: Annotated[float, Field(description="½ Σ |offer share − entitlement share|")]
    gini: Annotated[float, Field(description="Gini of offers per unit of entitlement")]
    listed_lawyers: int
    top10_lawyers: int
    top10_share: Annotated[float, Field(description="Appointments taken by the top 10% of lawyers")]
    top10_limit: Annotated[
        float,
        Field(
            description="Three times the share the evenest spread of the same appointments "
            "gives them (3 × k/n once every listed lawyer can have as many)"
        ),
    ]
    top10_exceeds: bool
    optimum_deviation: Annotated[
        float,
        Field(
            description="B*: the least largest |offers − entitlement| any rotation can keep "
            "with the territory's firm weights (policies.optimum)"
        ),
    ]
    optimum: Annotated[str, Field(description="B* as an exact fraction, e.g. 904/1019")]
    lawyer_max_abs_deviation: Annotated[
        float, Field(description="Largest |offers − entitlement| of a lawyer (`lawyers`)")
    ]
    time_to_counsel: dict[str, CounselTimes]
    choice_stage: ChoiceStage
    position_choice_counts: PositionCounts
    firms: list[FirmFigures]
    lawyers: list[LawyerFigures]


class TerritoryFigures(TypedDict):
    territory: str
    decisions: int
    firms: int
    max_abs_deviation: float
    optimum_deviation: float  # B* of the territory's firm weights
    loosemore_hanby: float


class Flag(TypedDict):
    requester: str
    lawyer: str
    requests: Annotated[int, Field(description="The requester's requests that reached a lawyer")]
    to_lawyer: int
    expected: float
    p_value: float
    q_value: Annotated[float, Field(description="Benjamini–Hochberg adjusted; flagged below 0.05")]


class PairTest(Flag):
    """A tested requester × lawyer pair: the flag's figures, the requester's id and verdict."""

    requester_id: int
    flagged: bool


class RefusalAlert(TypedDict):
    """A requester's requests refused before they were written in one territory, by reason:
    outside its territories, or beyond its hourly limit (a flood)."""

    requester: str
    role: str
    territory: str
    reason: str
    refused: Annotated[int, Field(description="Requests refused in the period")]
    first_at: str
    last_at: str


class CallbackAlert(TypedDict):
    """A requester's callbacks that failed for good in the period: the court was never told."""

    requester: str
    role: str
    failed: Annotated[int, Field(description="Callbacks given up in the period")]
    refused: Annotated[int, Field(description="Of them, refused at once (destination not allowed)")]
    last_at: str
    last_error: str


class ReopenFigures(TypedDict):
    """A requester's re-opened choice sessions in the period (a lost tablet, or fishing for a
    list: the policy's `[choice] max_reopens` bounds them per request)."""

    requester: str
    role: str
    requests: Annotated[int, Field(description="Requests whose choice session was re-opened")]
    reopens: Annotated[int, Field(description="Re-opens in all (sessions after each first)")]
    most: Annotated[int, Field(description="The most re-opens of one request")]
