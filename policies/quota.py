"""The rotation rule: which eligible firm gets the next turn, and which of its lawyers.

Every eligible firm earns, at each decision, its weight divided by the total weight of the
firms eligible at that decision (its eligibility-adjusted entitlement). The turn goes to the
firm furthest behind in the sense of Tijdeman's chairman-assignment rule: among the firms that
would not rise more than ``s = 1 - 1/(2n-2)`` above their entitlement by taking the turn, the
one that would soonest fall ``s`` behind its entitlement at its current rate, i.e. the smallest
``(offers + s - entitlement) / share``. With a fixed set of
eligible firms this keeps every firm's count within ``s < 1`` of its entitlement at every point
of the sequence (the quota property); a plain "largest shortfall" rule does not (it can drift
past 1). When exclusions leave no firm inside that band, the largest shortfall decides.

Tijdeman's bound holds for any weights; for given weights a smaller one, B*, is often
reachable (policies/optimum.py). With `[rotation] firm_bound = "optimum"` the rule uses B* of
the eligible firms' weights in place of ``s`` while every eligible firm stands within B* of its
entitlement: the same earliest-deadline rule, with B*'s deadlines, is then the earliest-due-date
schedule that keeps B* (so with the same eligible firms from the start, no firm ever strays more
than B*). When exclusions have carried a firm past B*, or no firm could take the turn within
B*, the decision falls back to Tijdeman's bound, exactly as the rule without B*.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from functools import lru_cache

from typing_extensions import TypedDict

from policies.optimum import b_star, integer_weights

EPS = 1e-9


@dataclass(frozen=True)
class FirmStanding:
    """A firm's position in a territory's rotation before a decision."""

    firm: str
    weight: float
    entitlement: float
    offers: int


class RankedFirmRecord(TypedDict):
    """A ranked firm as a decision's explanation records it (`RankedFirm.as_dict`)."""

    firm: str
    weight: float
    share: float
    entitlement: float
    offers: int
    shortfall: float
    within_quota: bool


@dataclass(frozen=True)
class RankedFirm:
    firm: str
    weight: float
    share: float
    entitlement_before: float
    entitlement_after: float
    offers: int
    shortfall: float
    within_quota: bool
    urgency: float

    def as_dict(self) -> RankedFirmRecord:
        return {
            "firm": self.firm,
            "weight": self.weight,
            "share": round(self.share, 9),
            "entitlement": round(self.entitlement_after, 9),
            "offers": self.offers,
            "shortfall": round(self.shortfall, 9),
            "within_quota": self.within_quota,
        }


def quota_slack(n: int) -> float:
    """Tijdeman's bound 1 - 1/(2n-2) for n firms (0 for a single firm)."""
    return 1.0 - 1.0 / (2 * n - 2) if n >= 2 else 0.0


# B* is found by earliest-due-date passes over a cycle of D = Σ weights turns (about 0.7 ms
# for D = 500, once per new set of weights);
# a territory with more lawyers than this keeps Tijdeman's bound.
OPTIMUM_MAX_TURNS = 5000


@dataclass(frozen=True)
class FirmBound:
    """The bound a decision's ranking keeps: B* of the eligible weights, or Tijdeman's."""

    slack: float
    optimum: Fraction | None = None  # B* when the decision ranks by it

    def describe(self) -> str:
        if self.optimum is None:
            return f"Tijdeman's bound 1 - 1/(2n-2) = {self.slack:.4f}"
        return (
            f"B* = {self.optimum} = {self.slack:.4f}, the least bound any rotation over "
            "these firms' weights can keep"
        )


def optimum_bound(standings: Sequence[FirmStanding]) -> Fraction | None:
    """B* of the eligible firms' weights if every one of them stands within it of its
    entitlement (the rotation is on the optimum's track), else None."""
    eligible = [s for s in standings if s.weight > 0]
    if len(eligible) < 2:
        return None
    furthest = max(abs(s.offers - s.entitlement) for s in eligible)
    if furthest > quota_slack(len(eligible)) + EPS:  # B* ≤ Tijdeman's bound: off the track
        return None
    bound = _b_star_of(tuple(sorted(s.weight for s in eligible)))
    if bound is None or furthest > float(bound) + EPS:
        return None
    return bound


@lru_cache(maxsize=8192)
def _b_star_of(weights: tuple[float, ...]) -> Fraction | None:
    """B* of these weights (it does not depend on their order), None past the size limit."""
    try:
        whole = integer_weights(weights)
    except ValueError:
        return None
    return b_star(whole) if sum(whole) <= OPTIMUM_MAX_TURNS else None


def prime_bound(weights: Iterable[float]) -> Fraction | None:
    """B* of the firms of these weights (those above 0), computed now and kept for the
    process as a decision keeps it: a process computes it at start for each territory's full
    set of firms, rather than in that territory's first decisions (about a millisecond for a
    capital district's weights)."""
    positive = tuple(sorted(w for w in weights if w > 0))
    return _b_star_of(positive) if len(positive) >= 2 else None


def rank_firms(standings: Sequence[FirmStanding], *, optimum: bool = False) -> list[RankedFirm]:
    """Order the eligible firms by who is next in turn; the first one gets this turn.

    With `optimum`, by B*'s deadlines where the rotation is on its track (`rank_with_bound`)."""
    return rank_with_bound(standings, optimum=optimum)[0]


def rank_with_bound(
    standings: Sequence[FirmStanding], *, optimum: bool = False
) -> tuple[list[RankedFirm], FirmBound]:
    """The ranking of `rank_firms`, and the bound it kept."""
    eligible = [s for s in standings if s.weight > 0]
    if not eligible:
        return [], FirmBound(0.0)
    tijdeman = FirmBound(quota_slack(len(eligible)))
    best = optimum_bound(eligible) if optimum else None
    if best is not None:
        ranked = _rank(eligible, float(best))
        if ranked[0].within_quota:
            return ranked, FirmBound(float(best), best)
    return _rank(eligible, tijdeman.slack), tijdeman


def _rank(eligible: Sequence[FirmStanding], slack: float) -> list[RankedFirm]:
    total = sum(s.weight for s in eligible)
    ranked: list[RankedFirm] = []
    for s in eligible:
        share = s.weight / total
        after = s.entitlement + share
        within = s.offers + 1 - after <= slack + EPS
        ranked.append(
            RankedFirm(
                firm=s.firm,
                weight=s.weight,
                share=share,
                entitlement_before=s.entitlement,
                entitlement_after=after,
                offers=s.offers,
                shortfall=after - s.offers,
                within_quota=within,
                urgency=(s.offers + slack - after) / share,
            )
        )

    def key(r: RankedFirm) -> tuple[int, float, float, str]:
        if r.within_quota:
            return (0, round(r.urgency, 9), -round(r.shortfall, 9), r.firm)
        return (1, -round(r.shortfall, 9), 0.0, r.firm)

    return sorted(ranked, key=key)


@dataclass(frozen=True)
class LawyerStanding:
    """A lawyer's place within their firm's queue, and their own standing in the territory's
    rotation (`entitlement` earned and `offers` charged, as a firm's standing is kept)."""

    licence: str
    workload: float  # open appointments and pending invitations, weighted by case category
    last_offer_at: datetime | None
    entitlement: float = 0.0  # Σ, over the decisions they were eligible for, their firm's
    offers: int = 0  # share divided among the firm's eligible lawyers; offers charged to them
    lapsed: bool = False  # let an invitation lapse lately (policy [pause] within_hours)

    @property
    def shortfall(self) -> float:
        """How far below their own entitlement the lawyer stands (negative: above it)."""
        return self.entitlement - self.offers


def order_lawyers(
    lawyers: Sequence[LawyerStanding], *, answering_reach: float | None = None
) -> list[LawyerStanding]:
    """The firm's lawyers, the one to invite first: the quota rule one level down.

    The lawyer furthest below their own entitlement first (every eligible lawyer of the firm
    earns the same part of the firm's share at a decision, so this is also the order after
    this decision's share), then the lightest workload, the longest since the last offer, the
    licence. The bound it keeps is stated in `LAWYER_BOUND`.

    With `answering_reach` (a detention, policy [pause] detentions_to_answering), the lawyers
    who let no invitation lapse lately and stand within `answering_reach` offers of the one
    furthest below go first, in the same order; then everyone else, in the same order.
    """

    def key(lawyer: LawyerStanding) -> tuple[float, float, int, float, str]:
        never = lawyer.last_offer_at is None
        stamp = 0.0 if lawyer.last_offer_at is None else lawyer.last_offer_at.timestamp()
        return (
            -round(lawyer.shortfall, 9),
            round(lawyer.workload, 9),
            0 if never else 1,
            stamp,
            lawyer.licence,
        )

    plain = sorted(lawyers, key=key)
    if answering_reach is None or not plain:
        return plain
    reach = plain[0].shortfall - answering_reach - EPS
    ahead = [lw for lw in plain if not lw.lapsed and lw.shortfall >= reach]
    taken = {lw.licence for lw in ahead}
    return ahead + [lw for lw in plain if lw.licence not in taken]


# With the same eligible firms and lawyers at every decision, every lawyer stays within 1 of
# their own entitlement at every point: the firm's lawyers earn alike, the one furthest below
# is charged, so their deviations never spread more than 1 apart, and they add up to the firm's
# deviation, which the firm rule keeps within `quota_slack` < 1; so each lies within
# (slack + n - 1) / n < 1 of the firm's mean. When a lawyer drops out for one request (a
# decline or a lapse: the next invitation of the same request cannot go to them) the others
# earn their part meanwhile; the bound the tests hold over random registries and answer
# sequences (tests/policies/test_quota_lawyers.py) is then 2.
LAWYER_BOUND = 2.0
# Steering detentions to the lawyers who answer (`order_lawyers` with `answering_reach` r) lets
# the chosen lawyer stand up to r behind the one furthest below, so the firm's lawyers spread
# up to r + 1 apart instead of 1, and a lawyer who lets invitations lapse may fall r further
# behind before the standard requests (plain order) bring them back: the bound is 2 + r
# (a hypothesis property over random registries, answers, lapses and urgencies holds it).


def lawyer_bound(answering_reach: float | None) -> float:
    """The bound on every lawyer's deviation from their own entitlement under the rule."""
    return LAWYER_BOUND + (answering_reach or 0.0)
