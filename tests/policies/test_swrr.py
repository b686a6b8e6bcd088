"""Smooth weighted round-robin: with a fixed set of firms, exactly nginx's sequence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.swrr import SWRR
from tests.support.standings import lawyer, standings


def nginx(weights: dict[str, int], turns: int) -> list[str]:
    """nginx's own loop over raw weights (ties to the heavier peer, then by name)."""
    current = dict.fromkeys(weights, 0)
    total = sum(weights.values())
    picked = []
    for _ in range(turns):
        for peer, weight in weights.items():
            current[peer] += weight
        best = max(weights, key=lambda p: (current[p], weights[p], [-ord(c) for c in p]))
        current[best] -= total
        picked.append(best)
    return picked


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=2, max_size=5))
def test_fixed_firms_follow_nginx(sizes: list[int]) -> None:
    firms = {f"F{i}": [lawyer(f"A-{i}-{j}") for j in range(n)] for i, n in enumerate(sizes)}
    weights = {f: len(lws) for f, lws in firms.items()}
    total = sum(weights.values())
    entitlement = dict.fromkeys(firms, 0.0)
    offers = dict.fromkeys(firms, 0)
    picked = []
    for _ in range(3 * total):
        turn = SWRR.turn(standings(firms, entitlement=entitlement, offers=offers))
        for ranked in turn.ranking:
            entitlement[ranked.firm] += ranked.share
        offers[turn.firm] += 1
        picked.append(turn.firm)
    assert picked == nginx(weights, 3 * total)
