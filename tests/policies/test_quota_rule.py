"""The quota rule behind the common interface, and learning who answers."""

from __future__ import annotations

from policies.base import rule_named
from policies.quota import rank_firms
from policies.vocabulary import RuleName
from tests.support.standings import lawyer, standings

FIRMS = {
    "F1": [lawyer("A-1", workload=0.0, expired=3), lawyer("A-2", workload=2.0, expired=0)],
    "F2": [lawyer("B-1")],
}


def test_the_firm_is_the_quota_rankings_first() -> None:
    s = standings(FIRMS, entitlement={"F1": 0.2, "F2": 0.9}, offers={"F1": 0, "F2": 0})
    turn = rule_named(RuleName.QUOTA).turn(s)
    assert turn.firm == rank_firms(s.firms)[0].firm == "F2"


def test_learning_puts_the_lawyer_who_lets_invitations_expire_last() -> None:
    s = standings(FIRMS, entitlement={"F1": 0.9}, learn_answers_days=30)
    turn = rule_named(RuleName.QUOTA).turn(s)
    assert (turn.firm, turn.queue) == ("F1", ("A-2", "A-1"))
    assert "expire" in str(turn.how["lawyer_order"])
    unlearned = rule_named(RuleName.QUOTA).turn(
        standings(FIRMS, entitlement={"F1": 0.9}, learn_answers_days=0)
    )
    assert unlearned.queue == ("A-1", "A-2")
