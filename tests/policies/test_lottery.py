"""The lottery: the same decision draws the same lawyer; over many, every lawyer alike."""

from __future__ import annotations

from collections import Counter

from policies.lottery import LOTTERY
from tests.support.standings import lawyer, standings

FIRMS = {"F1": [lawyer("A-1"), lawyer("A-2"), lawyer("A-3")], "F2": [lawyer("B-1")]}


def test_a_draw_is_replayed_by_its_key_and_seed() -> None:
    first = LOTTERY.turn(standings(FIRMS, key="REF-1:0", draw_seed=3))
    assert LOTTERY.turn(standings(FIRMS, key="REF-1:0", draw_seed=3)) == first
    draws = {LOTTERY.turn(standings(FIRMS, key="REF-1:0", draw_seed=s)).queue[0] for s in range(40)}
    assert draws == {"A-1", "A-2", "A-3", "B-1"}


def test_each_lawyer_is_drawn_about_equally_often() -> None:
    counts = Counter(LOTTERY.turn(standings(FIRMS, key=f"R-{i}")).queue[0] for i in range(4000))
    assert set(counts) == {"A-1", "A-2", "A-3", "B-1"}
    # 4000 draws of four: each near 1000 (five standard deviations is about 140).
    assert all(abs(n - 1000) < 140 for n in counts.values()), counts
    turn = LOTTERY.turn(standings(FIRMS, key="R-1"))
    assert turn.firm == ("F2" if turn.queue[0] == "B-1" else "F1")
