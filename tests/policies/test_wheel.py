"""The wheel: the next names in rotation; a biased person picks their favourite among them."""

from __future__ import annotations

from policies.wheel import WHEEL, taste
from tests.support.standings import lawyer, standings

# Rotation order A-0 ... A-7 (the oldest offer first).
FIRMS = {"F1": [lawyer(f"A-{i}", 100 - i) for i in range(8)]}


def test_without_bias_the_first_name_is_taken() -> None:
    for n in range(20):
        turn = WHEEL.turn(standings(FIRMS, key=f"R-{n}", wheel_favourite_bias=0.0))
        assert turn.queue[0] == "A-0"


def test_with_full_bias_the_requesters_favourite_among_the_shown_names_is_taken() -> None:
    for requester in ("court-1", "court-2", "police-9"):
        turn = WHEEL.turn(
            standings(FIRMS, requester=requester, wheel_favourite_bias=1.0, wheel_names=5)
        )
        shown = [f"A-{i}" for i in range(5)]
        assert turn.queue[0] == min(shown, key=lambda licence: taste(requester, licence))
        assert turn.how["shown"] == shown
