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
