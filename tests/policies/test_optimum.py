"""B*, the least deviation a rotation can keep (policies/optimum.py), against a brute force."""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.optimum import b_star, deviation, edd_schedule, integer_weights, optimum
from policies.quota import quota_slack


def brute_force(weights: tuple[int, ...]) -> Fraction:
    """min over every order of the D turns of the largest prefix deviation, by a search over
    the turns given so far (the position is their sum)."""
    total = sum(weights)

    @cache
    def best(counts: tuple[int, ...]) -> Fraction:
        k = sum(counts)
        if k == total:
            return Fraction(0)
        found: Fraction | None = None
        for i, d in enumerate(weights):
            if counts[i] == d:
                continue
            after = (*counts[:i], counts[i] + 1, *counts[i + 1 :])
            pairs = zip(after, weights, strict=True)
            here = max(abs(Fraction(c * total - (k + 1) * w, total)) for c, w in pairs)
            value = max(here, best(after))
            found = value if found is None else min(found, value)
        assert found is not None
        return found

    return best((0,) * len(weights))


small = st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=5).filter(
    lambda w: sum(w) <= 18
)


@settings(max_examples=150, deadline=None)
@given(weights=small)
def test_b_star_equals_the_brute_force(weights: list[int]) -> None:
    exact = integer_weights(weights)
    assert b_star(weights) == brute_force(exact)


@settings(max_examples=150, deadline=None)
@given(weights=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=15))
def test_the_cycle_keeps_b_star_and_nothing_less_is_feasible(weights: list[int]) -> None:
    best = optimum(weights)
    total = best.total
    assert sorted(best.cycle) == sorted(i for i, d in enumerate(best.weights) for _ in range(d))
    assert deviation(best.weights, best.cycle) == best.bound
    assert best.bound <= Fraction(quota_slack(len(weights))) + Fraction(1, 10**9)
    if best.t > 0:
        assert edd_schedule(best.weights, best.t - 1) is None
    assert best.bound < 1 and best.bound.denominator <= total


def test_the_issues_fifteen_firms() -> None:
    weights = [100, 109, 25, 77, 100, 50, 85, 4, 56, 81, 105, 115, 19, 79, 14]
    assert b_star(weights) == Fraction(904, 1019)


def test_weights_are_reduced_exactly() -> None:
    assert integer_weights([2.0, 4.0, 6.0]) == (1, 2, 3)
    assert integer_weights([0.5, 0.25]) == (2, 1)
    assert b_star([3.0]) == 0
    assert b_star([1, 1]) == Fraction(1, 2)
    assert b_star([10, 10, 10]) == b_star([1, 1, 1]) == Fraction(2, 3)
    with pytest.raises(ValueError):
        integer_weights([1.0, 0.0])
