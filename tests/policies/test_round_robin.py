"""Plain round-robin over lawyers: never offered first, then the oldest last offer."""

from __future__ import annotations

from datetime import timedelta

from policies.quota import LawyerStanding
from policies.round_robin import ROUND_ROBIN
from tests.support.standings import T0, lawyer, standings


def test_never_offered_lawyer_goes_first_then_the_oldest_offer() -> None:
    firms = {"F1": [lawyer("A-1", 5), lawyer("A-2", 50)], "F2": [lawyer("B-1", 10)]}
    turn = ROUND_ROBIN.turn(standings(firms))
    assert (turn.firm, turn.queue) == ("F1", ("A-2", "A-1"))
    firms["F2"].append(lawyer("B-2"))
    assert ROUND_ROBIN.turn(standings(firms)).queue[0] == "B-2"


def test_every_lawyer_gets_one_turn_before_anyone_gets_a_second() -> None:
    offered: dict[str, int | None] = {f"A-{i}": None for i in range(7)}
    firm_of = {name: f"F{i % 3}" for i, name in enumerate(offered)}
    seen: list[str] = []
    for step in range(14):
        firms: dict[str, list[LawyerStanding]] = {}
        for name, at in offered.items():
            when = None if at is None else T0 + timedelta(minutes=at)
            firms.setdefault(firm_of[name], []).append(LawyerStanding(name, 0.0, when))
        turn = ROUND_ROBIN.turn(standings(firms))
        seen.append(turn.queue[0])
        offered[turn.queue[0]] = step
    assert sorted(seen[:7]) == sorted(offered) and seen[7:] == seen[:7]
