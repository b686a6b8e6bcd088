"""The pure rotation rule (invariant 5): the quota bound, determinism, and why it is not greedy."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.optimum import b_star
from policies.optimum import deviation as exact_deviation
from policies.quota import (
    FirmStanding,
    LawyerStanding,
    RankedFirm,
    order_lawyers,
    quota_slack,
    rank_firms,
    rank_with_bound,
)

# What one decision yields: the firm that gets the turn and the share each eligible firm earns.
Turn = tuple[str, dict[str, float]]
Rule = Callable[[Sequence[FirmStanding]], Turn]


def rotation_turn(standings: Sequence[FirmStanding]) -> Turn:
    """The rule under test, driven the way the allocator drives it."""
    ranked = rank_firms(standings)
    return ranked[0].firm, {r.firm: r.share for r in ranked}


def largest_shortfall_turn(standings: Sequence[FirmStanding]) -> Turn:
    """The naive rule: the turn goes to the firm furthest below its entitlement after this
    decision (ties to the lowest code)."""
    eligible = [s for s in standings if s.weight > 0]
    total = sum(s.weight for s in eligible)
    shares = {s.firm: s.weight / total for s in eligible}
    chosen = min(eligible, key=lambda s: (-(s.entitlement + shares[s.firm] - s.offers), s.firm))
    return chosen.firm, shares


@dataclass
class Run:
    """The outcome of a simulated sequence of decisions in one territory."""

    entitlement: dict[str, float]
    offers: dict[str, int]
    decisions: int = 0
    # One entry per decision: offers - entitlement for every firm, eligible or not.
    deviations: list[dict[str, float]] = field(default_factory=list)
    share_sums: list[float] = field(default_factory=list)
    turns: list[str] = field(default_factory=list)  # the firm that took each turn

    def worst(self) -> float:
        return max((abs(d) for step in self.deviations for d in step.values()), default=0.0)


def simulate(
    weights: Mapping[str, float],
    decisions: int,
    exclusions: Sequence[frozenset[str]] | None = None,
    rule: Rule = rotation_turn,
) -> Run:
    """Run `rule` over `decisions` decisions; at decision i the firms in exclusions[i] are not
    eligible and earn nothing. A decision at which no firm is eligible does not happen."""
    run = Run(entitlement=dict.fromkeys(weights, 0.0), offers=dict.fromkeys(weights, 0))
    for i in range(decisions):
        excluded = exclusions[i] if exclusions is not None else frozenset()
        standings = [
            FirmStanding(firm, weight, run.entitlement[firm], run.offers[firm])
            for firm, weight in weights.items()
            if firm not in excluded
        ]
        if not any(s.weight > 0 for s in standings):
            continue
        chosen, shares = rule(standings)
        assert chosen not in excluded
        for firm, share in shares.items():
            run.entitlement[firm] += share
        run.offers[chosen] += 1
        run.turns.append(chosen)
        run.decisions += 1
        run.share_sums.append(sum(shares.values()))
        run.deviations.append({f: run.offers[f] - run.entitlement[f] for f in weights})
    return run


def firms_with(weights: Sequence[float]) -> dict[str, float]:
    return {f"F{i:02d}": float(w) for i, w in enumerate(weights)}


def random_exclusions(
    firms: Sequence[str], decisions: int, p: float, rng: random.Random
) -> list[frozenset[str]]:
    return [frozenset(f for f in firms if rng.random() < p) for _ in range(decisions)]


weights_st = st.lists(st.integers(min_value=1, max_value=15), min_size=2, max_size=15)


@settings(max_examples=300, deadline=None)
@given(weights=weights_st, decisions=st.integers(min_value=1, max_value=400))
def test_quota_bound_without_exclusions(weights: list[int], decisions: int) -> None:
    chosen: list[RankedFirm] = []

    def recording_turn(standings: Sequence[FirmStanding]) -> Turn:
        ranked = rank_firms(standings)
        chosen.append(ranked[0])
        return ranked[0].firm, {r.firm: r.share for r in ranked}

    run = simulate(firms_with(weights), decisions, rule=recording_turn)
    bound = quota_slack(len(weights)) + 1e-9
    assert bound < 1
    for step, deviation in enumerate(run.deviations):
        for firm, d in deviation.items():
            assert abs(d) <= bound, (step, firm, d, bound)
    # Some firm always fits inside the band, so the fallback never decides without exclusions.
    assert all(first.within_quota for first in chosen)


@settings(max_examples=60, deadline=None)
@given(
    weights=weights_st,
    decisions=st.integers(min_value=1, max_value=120),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_ranking_is_deterministic_and_ignores_input_order(
    weights: list[int], decisions: int, seed: int
) -> None:
    rng = random.Random(seed)
    firms = firms_with(weights)
    entitlement = dict.fromkeys(firms, 0.0)
    offers = dict.fromkeys(firms, 0)
    for _ in range(decisions):
        excluded = {f for f in firms if rng.random() < 0.3}
        standings = [
            FirmStanding(f, w, entitlement[f], offers[f])
            for f, w in firms.items()
            if f not in excluded
        ]
        if not standings:
            continue
        ranked = rank_firms(standings)
        assert rank_firms(standings) == ranked
        shuffled = list(standings)
        rng.shuffle(shuffled)
        assert rank_firms(shuffled) == ranked
        assert rank_firms(list(reversed(standings))) == ranked
        for r in ranked:
            entitlement[r.firm] += r.share
        offers[ranked[0].firm] += 1


@settings(max_examples=100, deadline=None)
@given(
    weights=weights_st,
    decisions=st.integers(min_value=1, max_value=200),
    exclude_p=st.floats(min_value=0.0, max_value=0.9),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_shares_sum_to_one_and_offers_match_decisions_with_exclusions(
    weights: list[int], decisions: int, exclude_p: float, seed: int
) -> None:
    firms = firms_with(weights)
    exclusions = random_exclusions(list(firms), decisions, exclude_p, random.Random(seed))
    run = simulate(firms, decisions, exclusions)
    assert run.decisions == sum(1 for excluded in exclusions if len(excluded) < len(firms))
    assert all(abs(total - 1.0) <= 1e-12 for total in run.share_sums)
    assert sum(run.offers.values()) == run.decisions
    assert sum(run.entitlement.values()) == pytest.approx(run.decisions, abs=1e-9 * (1 + decisions))
    # Firms never eligible earn nothing and get no turn.
    for firm in firms:
        if all(firm in excluded for excluded in exclusions):
            assert run.entitlement[firm] == 0.0
            assert run.offers[firm] == 0


@settings(max_examples=100, deadline=None)
@given(
    weights=weights_st,
    idle=st.lists(st.sampled_from([0.0, -1.0, -15.0]), min_size=1, max_size=5),
    entitlement=st.floats(min_value=0, max_value=50),
    offers=st.integers(min_value=0, max_value=50),
)
def test_firms_without_weight_are_dropped(
    weights: list[int], idle: list[float], entitlement: float, offers: int
) -> None:
    positive = [FirmStanding(f, w, 0.0, 0) for f, w in firms_with(weights).items()]
    dropped = [FirmStanding(f"Z{i}", w, entitlement, offers) for i, w in enumerate(idle)]
    ranked = rank_firms(dropped + positive)
    assert ranked == rank_firms(positive)
    assert {r.firm for r in ranked} == {s.firm for s in positive}
    assert rank_firms(dropped) == []
    assert rank_firms([]) == []


def test_single_firm_gets_every_turn_with_no_slack() -> None:
    run = simulate({"F1": 4.0}, 10)
    assert run.offers == {"F1": 10}
    assert run.worst() == pytest.approx(0.0, abs=1e-9)
    assert quota_slack(1) == 0.0


def test_quota_slack_is_tijdemans_bound() -> None:
    assert quota_slack(2) == pytest.approx(0.5)
    assert quota_slack(6) == pytest.approx(0.9)
    assert quota_slack(15) == pytest.approx(1 - 1 / 28)


def test_largest_shortfall_rule_drifts_past_one_where_the_rotation_does_not() -> None:
    """Why the rule is not the naive one: with these weights the greedy rule leaves a firm more
    than a whole turn away from its entitlement; the rotation keeps within 1 - 1/(2n-2)."""
    weights = firms_with([1, 15, 1, 15, 3, 15])
    greedy = simulate(weights, 200, rule=largest_shortfall_turn)
    rotation = simulate(weights, 200)
    assert greedy.worst() > 1.0
    assert rotation.worst() <= quota_slack(len(weights)) + 1e-9 < 1.0


@pytest.mark.slow
def test_deviation_over_ten_thousand_decisions() -> None:
    rng = random.Random(2026)
    weights = firms_with([rng.randint(1, 15) for _ in range(15)])
    decisions = 10_000
    plain = simulate(weights, decisions)
    exclusions = random_exclusions(list(weights), decisions, 0.2, random.Random(2027))
    excluded = simulate(weights, decisions, exclusions)
    print(
        f"\n15 firms, {decisions} decisions, weights {[int(w) for w in weights.values()]}: "
        f"max |offers - entitlement| {plain.worst():.4f} without exclusions "
        f"(bound {quota_slack(15):.4f}), {excluded.worst():.4f} with 20% random exclusions"
    )
    assert plain.worst() < 1.0
    assert excluded.worst() < 3.0


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_order_lawyers_fewest_open_first() -> None:
    lawyers = [
        LawyerStanding("A-1", 2, None),
        LawyerStanding("A-2", 0, T0),
        LawyerStanding("A-3", 1, None),
    ]
    assert [s.licence for s in order_lawyers(lawyers)] == ["A-2", "A-3", "A-1"]


def test_order_lawyers_never_offered_before_offered() -> None:
    lawyers = [
        LawyerStanding("A-1", 1, T0 - timedelta(days=365)),
        LawyerStanding("A-9", 1, None),
    ]
    assert [s.licence for s in order_lawyers(lawyers)] == ["A-9", "A-1"]


def test_order_lawyers_oldest_offer_first_then_licence() -> None:
    lawyers = [
        LawyerStanding("A-4", 0, T0),
        LawyerStanding("A-3", 0, T0 - timedelta(hours=1)),
        LawyerStanding("A-2", 0, T0),
        LawyerStanding("A-1", 0, T0 + timedelta(minutes=1)),
        LawyerStanding("A-6", 0, None),
        LawyerStanding("A-5", 0, None),
    ]
    assert [s.licence for s in order_lawyers(lawyers)] == ["A-5", "A-6", "A-3", "A-2", "A-4", "A-1"]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3),
            st.none() | st.integers(min_value=0, max_value=5),
        ),
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_order_lawyers_is_a_total_order(
    rows: list[tuple[int, int | None]], rng: random.Random
) -> None:
    lawyers = [
        LawyerStanding(f"A-{i:02d}", load, None if hours is None else T0 + timedelta(hours=hours))
        for i, (load, hours) in enumerate(rows)
    ]
    ordered = order_lawyers(lawyers)
    shuffled = list(lawyers)
    rng.shuffle(shuffled)
    assert order_lawyers(shuffled) == ordered
    for first, second in pairwise(ordered):
        assert first.workload <= second.workload
        if first.workload == second.workload:
            assert not (first.last_offer_at is not None and second.last_offer_at is None)
            if first.last_offer_at is not None and second.last_offer_at is not None:
                assert first.last_offer_at <= second.last_offer_at


# B*: the least bound any rotation over the weights can keep (policies/optimum.py), reached by
# the rule with `optimum` (policy `[rotation] firm_bound = "optimum"`).


def optimum_turn(standings: Sequence[FirmStanding]) -> Turn:
    ranked = rank_firms(standings, optimum=True)
    return ranked[0].firm, {r.firm: r.share for r in ranked}


def exact_worst(weights: Sequence[int], run: Run) -> Fraction:
    """The run's largest deviation, exactly (offers and decisions are integers)."""
    return exact_deviation(weights, [int(f[1:]) for f in run.turns])


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=40), min_size=2, max_size=12),
    cycles=st.floats(min_value=1.0, max_value=2.5),
)
def test_with_the_same_firms_the_rotation_keeps_b_star_and_reaches_it(
    weights: list[int], cycles: float
) -> None:
    """With no exclusions every decision ranks by B*'s deadlines, no firm ever strays more than
    B* from its entitlement, and over a whole cycle (D turns) some firm reaches B*: the least
    any sequence can keep, so the rule's deviation is B* exactly."""
    firms = firms_with(weights)
    decisions = int(sum(weights) * cycles)
    run = simulate(firms, decisions, rule=optimum_turn)
    best = b_star(weights)
    assert exact_worst(weights, run) == best
    old = simulate(firms, decisions)
    assert exact_worst(weights, old) >= best  # nothing keeps less than B*


def test_the_issues_fifteen_firms_reach_b_star_where_tijdemans_rule_does_not() -> None:
    weights = [100, 109, 25, 77, 100, 50, 85, 4, 56, 81, 105, 115, 19, 79, 14]
    firms = firms_with(weights)
    run = simulate(firms, 1019, rule=optimum_turn)
    assert b_star(weights) == Fraction(904, 1019)
    assert exact_worst(weights, run) == Fraction(904, 1019)
    assert run.worst() < simulate(firms, 1019).worst() - 0.05


@settings(max_examples=150, deadline=None)
@given(
    weights=weights_st,
    decisions=st.integers(min_value=1, max_value=300),
    exclude_p=st.floats(min_value=0.0, max_value=0.5),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_under_exclusions_b_star_only_on_its_track_and_the_turn_within_tijdemans_band(
    weights: list[int], decisions: int, exclude_p: float, seed: int
) -> None:
    """Random exclusions move the rotation off any fixed schedule. The rule ranks by B* only
    while every eligible firm stands within B* of its entitlement, and its turn then keeps the
    taker within B*; otherwise it is Tijdeman's rule: the turn goes to a firm the turn keeps
    within Tijdeman's band whenever there is one, exactly as the rule without B*."""
    rng = random.Random(seed)
    firms = firms_with(weights)
    entitlement = dict.fromkeys(firms, 0.0)
    offers = dict.fromkeys(firms, 0)
    for _ in range(decisions):
        standings = [
            FirmStanding(f, w, entitlement[f], offers[f])
            for f, w in firms.items()
            if rng.random() >= exclude_p
        ]
        if not standings:
            continue
        ranked, bound = rank_with_bound(standings, optimum=True)
        plain = rank_firms(standings)
        taker = ranked[0]
        if bound.optimum is None:
            assert ranked == plain
        else:
            assert bound.optimum == b_star([s.weight for s in standings])
            assert all(abs(s.offers - s.entitlement) <= bound.slack + 1e-9 for s in standings)
            assert taker.offers + 1 - taker.entitlement_after <= bound.slack + 1e-9
        tijdeman = quota_slack(len(standings))
        if any(r.offers + 1 - r.entitlement_after <= tijdeman + 1e-9 for r in plain):
            assert taker.offers + 1 - taker.entitlement_after <= tijdeman + 1e-9
        for r in ranked:
            entitlement[r.firm] += r.share
        offers[taker.firm] += 1


def test_a_territory_too_large_for_the_cycle_keeps_tijdemans_bound() -> None:
    standings = [FirmStanding("F1", 3000.0, 0.0, 0), FirmStanding("F2", 2003.0, 0.0, 0)]
    ranked, bound = rank_with_bound(standings, optimum=True)
    assert bound.optimum is None and bound.slack == quota_slack(2)
    assert ranked == rank_firms(standings)
