"""B* computed at start covers every set of firms a decision meets when no lawyer is busy.

`allocation.bounds.weight_sets` lists, for a territory, the weights of the sets of firms with
an eligible lawyer for every language, age, urgency and moment of the week a duty window opens
or closes. Over random territories (languages, juvenile specialists, duty windows to the
minute and past midnight, suspended firms, lawyers on leave or not serving) and any moment
and need, the eligible firms of the pool (nobody at their cap, paused, invited or conflicted)
are one of the sets (`firm_sets`), and their weights among the weights: a started process
computes B* of each (`Runtime.start`), and no such decision computes one.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlmodel import Session

from dispatcher.allocation.bounds import firm_sets, one_left_out, weight_sets
from dispatcher.allocation.pool import Moment, pool_of
from dispatcher.rota.cover import RotaCover
from policies.eligibility import DutyWindow
from policies.vocabulary import LawyerStatus
from tests.dispatcher.test_pool_alike import EQUAL, MONDAY, POLICY, _facts, _request

WINDOW = st.builds(
    DutyWindow,
    st.integers(0, 6),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
)
LAWYER = st.fixed_dictionaries(
    {
        "firm": st.integers(0, 5),
        "languages": st.sampled_from([("az",), ("az", "ru"), ("ru",), ("az", "en")]),
        "juvenile": st.booleans(),
        "cap": st.sampled_from([1, 2, 3]),
        "status": st.sampled_from([LawyerStatus.ACTIVE] * 8 + [LawyerStatus.ON_LEAVE]),
        "serves": st.integers(0, 9).map(bool),
        # Mostly windows, so that the firms on duty change over the week.
        "duty": st.one_of(st.just(()), *[st.lists(WINDOW, min_size=1, max_size=3).map(tuple)] * 4),
    }
)


@settings(max_examples=60, deadline=None)
@given(
    firm_active=st.lists(st.integers(0, 9).map(bool), min_size=3, max_size=6),
    lawyers=st.lists(LAWYER, min_size=10, max_size=30),
    language=st.sampled_from(["az", "az", "ru", "en"]),
    juvenile=st.sampled_from([False, False, True]),
    policy=st.sampled_from([POLICY, EQUAL]),
)
def test_every_set_of_firms_a_decision_meets_has_its_bound_computed_at_start(
    firm_active: list[bool],
    lawyers: list[dict[str, Any]],
    language: str,
    juvenile: bool,
    policy: Any,
) -> None:
    """A standard request, and a detention at every quarter of an hour of the week (the
    windows' edges are on quarters)."""
    facts = _facts(firm_active, lawyers, RotaCover((), ()))
    session = Session(create_engine("sqlite://"))
    computed = firm_sets(facts, policy)
    bounds = weight_sets(facts, policy)
    met: set[frozenset[int]] = set()
    for urgency, quarters in (("standard", 1), ("detention", 7 * 24 * 4)):
        request = _request(urgency, language, juvenile)
        for quarter in range(quarters):
            moment = Moment(MONDAY + timedelta(minutes=15 * quarter), frozenset(), {})
            pool = pool_of(session, request, facts, policy, moment, set(), {})
            firms = frozenset(pool.eligible)
            if len(firms) >= 2:  # a rotation over one firm needs no bound
                assert firms in computed, (urgency, quarter)
                assert tuple(sorted(pool.weights[f] for f in firms)) in bounds
                met.add(firms)
    event(f"{len(met)} sets of two firms or more met")


def _lawyer(firm: int, *duty: DutyWindow) -> dict[str, Any]:
    return {
        "firm": firm,
        "languages": ("az",),
        "juvenile": firm == 2,
        "cap": 2,
        "status": LawyerStatus.ACTIVE,
        "serves": True,
        "duty": duty,
    }


def test_the_sets_change_where_a_window_opens_and_where_it_closes() -> None:
    """F0 on duty on Tuesdays 09:00-18:00, F1 12:00-20:00, F2 (juvenile) always: a detention
    on Tuesday meets F2 alone, F0 and F2, all three, then F1 and F2 once F0's window closes."""
    tuesday = 1
    facts = _facts(
        [True, True, True],
        [
            _lawyer(0, DutyWindow(tuesday, time(9), time(18))),
            _lawyer(1, DutyWindow(tuesday, time(12), time(20))),
            _lawyer(2),
        ],
        RotaCover((), ()),
    )
    f0, f1, f2 = sorted(facts.firms)
    assert firm_sets(facts, POLICY) == {
        frozenset({f0, f1, f2}),
        frozenset({f2}),
        frozenset({f0, f2}),
        frozenset({f1, f2}),  # Tuesday 18:00 to 20:00
    }
    assert weight_sets(facts, POLICY) == {(1.0, 1.0), (1.0, 1.0, 1.0)}


def test_a_firm_left_out_once_per_distinct_weight() -> None:
    assert list(one_left_out((1.0, 1.0, 2.0, 5.0))) == [
        (1.0, 2.0, 5.0),
        (1.0, 1.0, 5.0),
        (1.0, 1.0, 2.0),
    ]
    assert list(one_left_out((3.0, 4.0))) == []  # a rotation over one firm needs no bound
