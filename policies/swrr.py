"""Smooth weighted round-robin (nginx) over the eligible firms.

nginx adds each peer's weight to its current weight, takes the largest and subtracts the
total. With the weights normalised to shares at each decision, a firm's current weight is its
entitlement minus its offers, so the rule gives the turn to the largest shortfall — the rule
that Tijdeman's bound improves on: with changing eligibility it can drift past 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.base import Standings, Turn, firm_queue
from policies.quota import rank_firms
from policies.vocabulary import RuleName


@dataclass(frozen=True)
class SmoothWeightedRoundRobin:
    name: RuleName = RuleName.SWRR

    def turn(self, standings: Standings) -> Turn:
        ranked = rank_firms(standings.firms)
        # The largest current weight wins; ties go to the heavier firm, then by code.
        ordered = sorted(ranked, key=lambda r: (-round(r.shortfall, 9), -r.weight, r.firm))
        firm = ordered[0].firm
        return Turn(
            firm=firm,
            queue=firm_queue(standings, firm),
            ranking=tuple(ordered),
            how={"firm_order": "smooth weighted round-robin: largest current weight"},
        )


SWRR = SmoothWeightedRoundRobin()
