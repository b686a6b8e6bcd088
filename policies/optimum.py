"""The smallest deviation any rotation can keep for a set of firm weights, B*, exactly.

A rotation over firms of integer weights d₁…dₙ (D = Σdᵢ, gcd 1) gives firm i, after k turns,
xᵢ(k) turns against an entitlement of k·dᵢ/D. B* is the least B such that some sequence keeps
|xᵢ(k) − k·dᵢ/D| ≤ B for every firm at every k (Steiner & Yeomans, Management Science 39(6),
1993; Kubiak, *Proportional Optimization and Fairness*, 2009). Since B* < 1 (Tijdeman), such
a sequence gives every firm exactly dᵢ of the first D turns: it is a cycle of length D.

For t = B·D, copy j of firm i must take a position in the window
[⌈(jD − t)/dᵢ⌉, ⌊((j−1)D + t)/dᵢ⌋ + 1] (before it, the firm would fall more than B behind;
at it, no more than B ahead). Unit jobs with integer release times and deadlines: the
earliest-due-date order fills them if anything can, in O(D log n). The windows move only at
integer t, so the least feasible t is an integer and B* = t*/D, found by bisection.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from math import gcd, lcm


def integer_weights(weights: Sequence[float | int | Fraction]) -> tuple[int, ...]:
    """The weights as coprime integers of the same ratios (a float is read as its decimal)."""
    exact = [w if isinstance(w, Fraction) else Fraction(repr(w)) for w in weights]
    if not exact or any(w <= 0 for w in exact):
        raise ValueError("weights must be positive")
    scale = lcm(*(w.denominator for w in exact))
    whole = [int(w * scale) for w in exact]
    common = gcd(*whole)
    return tuple(w // common for w in whole)


def edd_schedule(weights: Sequence[int], t: int) -> tuple[int, ...] | None:
    """The earliest-due-date sequence (firm indexes, length D) keeping every firm within t/D
    of its entitlement, or None if no sequence can. Ties go to the lower index.

    Copy j of firm i is released at ⌈(jD − t)/dᵢ⌉ and due by ⌊((j−1)D + t)/dᵢ⌋ + 1 (the
    module's windows), computed in the loop: it runs a few times for each new set of weights,
    on the allocation's path, and a function call per copy cost a third of its time."""
    total = sum(weights)
    pending: list[tuple[int, int, int]] = []  # (release, firm, copy) of each firm's next copy
    for i, d in enumerate(weights):
        pending.append((max(1, -((t - total) // d)), i, 1))
    heapq.heapify(pending)
    ready: list[tuple[int, int, int]] = []  # (deadline, firm, copy)
    sequence: list[int] = []
    push, pop = heapq.heappush, heapq.heappop
    for position in range(1, total + 1):
        while pending and pending[0][0] <= position:
            _release, i, j = pop(pending)
            push(ready, (min(total, ((j - 1) * total + t) // weights[i] + 1), i, j))
        if not ready:
            return None
        deadline, i, j = pop(ready)
        if deadline < position:
            return None
        sequence.append(i)
        if j < weights[i]:
            push(pending, (max(1, -((t - (j + 1) * total) // weights[i])), i, j + 1))
    return tuple(sequence)


@dataclass(frozen=True)
class Optimum:
    """B* of a weight vector and a cycle that keeps it."""

    weights: tuple[int, ...]  # coprime integers
    t: int  # B* · D
    cycle: tuple[int, ...]  # firm indexes, one cycle of length D

    @property
    def total(self) -> int:
        return sum(self.weights)

    @property
    def bound(self) -> Fraction:
        return Fraction(self.t, self.total)


@lru_cache(maxsize=512)
def _optimum(weights: tuple[int, ...]) -> Optimum:
    total = sum(weights)
    n = len(weights)
    # Bracket t*: the firm that takes the first turn stands ahead of its
    # entitlement by (D - dᵢ)/D, so t* ≥ D - max d; Tijdeman's bound 1 - 1/(2n-2) is always
    # kept, and deviations are multiples of 1/D, so t* ≤ ⌊D (2n-3)/(2n-2)⌋.
    low = total - max(weights)
    high = total * (2 * n - 3) // (2 * n - 2) if n >= 2 else 0
    # t* is mostly the lower end itself (for 4 in 5 of the registries' weight vectors) or a
    # few above it: search upwards in doubling steps from there, then bisect the last step.
    best = edd_schedule(weights, low)
    if best is not None:
        high = low
    step, infeasible = 1, low
    while best is None:
        upper = min(high, infeasible + step)
        found = edd_schedule(weights, upper)
        if found is not None:
            low, high, best = infeasible + 1, upper, found
        elif upper >= high:  # pragma: no cover - Tijdeman's theorem
            raise AssertionError(f"no sequence within Tijdeman's bound for {weights}")
        else:
            infeasible, step = upper, step * 2
    while low < high:
        middle = (low + high) // 2
        found = edd_schedule(weights, middle)
        if found is None:
            low = middle + 1
        else:
            high, best = middle, found
    return Optimum(weights=weights, t=high, cycle=best)


def optimum(weights: Sequence[float | int | Fraction]) -> Optimum:
    """B* of the weights (in their order), with an earliest-due-date cycle reaching it."""
    return _optimum(integer_weights(weights))


def b_star(weights: Sequence[float | int | Fraction]) -> Fraction:
    """The least deviation any rotation over these weights can keep, exactly."""
    return optimum(weights).bound


def deviation(weights: Sequence[int], sequence: Sequence[int]) -> Fraction:
    """The largest |turns − entitlement| of any firm at any prefix of `sequence`, exactly."""
    total = sum(weights)
    counts = [0] * len(weights)
    worst = Fraction(0)
    for k, i in enumerate(sequence, start=1):
        counts[i] += 1
        for f, d in enumerate(weights):
            worst = max(worst, abs(Fraction(counts[f] * total - k * d, total)))
    return worst
