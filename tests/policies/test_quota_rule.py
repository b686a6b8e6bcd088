"""The quota rule behind the common interface, and the quota rule one level down."""

from __future__ import annotations

from policies.base import rule_named
from policies.quota import rank_firms
from policies.vocabulary import RuleName
from tests.support.standings import lawyer, standings

FIRMS = {
    "F1": [
        lawyer("A-1", workload=0.0, entitlement=2.0, offers=3),
        lawyer("A-2", workload=2.0, entitlement=2.0, offers=1),
    ],
    "F2": [lawyer("B-1")],
}


def test_the_firm_is_the_quota_rankings_first() -> None:
    s = standings(FIRMS, entitlement={"F1": 0.2, "F2": 0.9}, offers={"F1": 0, "F2": 0})
    turn = rule_named(RuleName.QUOTA).turn(s)
    assert turn.firm == rank_firms(s.firms)[0].firm == "F2"


def test_within_the_firm_the_lawyer_furthest_below_their_entitlement_goes_first() -> None:
    # A-2 carries more work, but stands 1 below their share where A-1 stands 1 above.
    s = standings(FIRMS, entitlement={"F1": 0.9})
    turn = rule_named(RuleName.QUOTA).turn(s)
    assert (turn.firm, turn.queue) == ("F1", ("A-2", "A-1"))
    assert "below their own entitlement" in str(turn.how["lawyer_order"])


def test_the_policy_chooses_the_firm_bound_and_the_explanation_names_it() -> None:
    """On the optimum's track the rule ranks by B*'s deadlines and says so; with
    `firm_bound = "tijdeman"` it is the plain ranking. Weights 5:2:1 after F1's first turn:
    B* = 1/2, so F2, 1/4 behind at a quarter turn per decision, is due now; under Tijdeman's
    3/4 the large firm F1 is due first."""
    firms = {"F1": [lawyer("A-1")], "F2": [lawyer("B-1")], "F3": [lawyer("C-1")]}
    at: dict[str, object] = {
        "weights": {"F1": 5.0, "F2": 2.0, "F3": 1.0},
        "entitlement": {"F1": 0.625, "F2": 0.25, "F3": 0.125},
        "offers": {"F1": 1},
    }
    optimum = rule_named(RuleName.QUOTA).turn(standings(firms, **at))  # type: ignore[arg-type]
    tijdeman = rule_named(RuleName.QUOTA).turn(
        standings(firms, firm_bound="tijdeman", **at)  # type: ignore[arg-type]
    )
    assert tijdeman.firm == rank_firms(standings(firms, **at).firms)[0].firm == "F1"  # type: ignore[arg-type]
    assert optimum.firm == "F2"
    assert "B* = 1/2" in str(optimum.how["firm_order"])
    assert "Tijdeman" in str(tijdeman.how["firm_order"])
