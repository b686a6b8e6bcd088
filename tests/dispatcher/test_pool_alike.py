"""A pool judged a profile at a time (`pool_of`) is the pool of every lawyer judged one by one.

Over random territories (languages, juvenile specialists, caps of 0 to 3 with loads below, at
and over them, duty windows running past midnight, an approved rota covering the moment or
not, suspended firms and lawyers, lawyers on leave or not serving the territory) and random
moments and requests (paused lawyers up to all of them, invitations, conflicted firms, equal
weights, the language rule off), the pool equals the one the rules give lawyer by lawyer
(`reference_pool` of tests/support/pools.py, the formulation the allocator had before): the
eligible firms in the order of their first eligible lawyer, each firm's lawyers in licence
order, the same excluded records in the same order, the excluded firms, weights, loads, the
pause waived or not.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine
from sqlmodel import Session

from dispatcher.allocation.pool import Moment, Pool, pool_of
from dispatcher.allocation.registry_facts import (
    FirmRow,
    LawyerRow,
    TerritoryFacts,
    TerritoryRow,
    territory_facts,
)
from dispatcher.models import Request
from dispatcher.rota.cover import RotaCover
from policies.config import load_policy_book
from policies.eligibility import DutyWindow
from policies.vocabulary import (
    Category,
    FirmStatus,
    LawyerStatus,
    RequestKind,
    RequestStatus,
)
from tests.support.pools import as_found, reference_pool

POLICY = load_policy_book().default
EQUAL = POLICY.model_copy(
    update={"rotation": POLICY.rotation.model_copy(update={"weight": "equal"})}
)
ANY_LANGUAGE = POLICY.model_copy(
    update={"eligibility": POLICY.eligibility.model_copy(update={"require_language": False})}
)
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)

WINDOW = st.builds(
    DutyWindow,
    st.integers(0, 6),
    st.sampled_from([time(0), time(9), time(18)]),
    st.sampled_from([time(9), time(18), time(0)]),  # at or before the start: past midnight
)
LAWYER = st.fixed_dictionaries(
    {
        "firm": st.integers(0, 4),
        "languages": st.sampled_from([("az",), ("az", "ru"), ("ru",), ("az", "en")]),
        "juvenile": st.booleans(),
        "cap": st.sampled_from([1, 1, 2, 2, 3, 0]),
        "status": st.sampled_from(
            [LawyerStatus.ACTIVE] * 6 + [LawyerStatus.ON_LEAVE, LawyerStatus.SUSPENDED]
        ),
        "serves": st.integers(0, 9).map(bool),
        "duty": st.one_of(st.just(()), st.lists(WINDOW, max_size=2).map(tuple)),
    }
)


def _facts(
    firm_active: list[bool], lawyers: list[dict[str, Any]], rota: RotaCover
) -> TerritoryFacts:
    firms = {
        10 + f: FirmRow(10 + f, f"F{f}", FirmStatus.ACTIVE if active else FirmStatus.SUSPENDED)
        for f, active in enumerate(firm_active)
    }
    rows = [
        (
            LawyerRow(
                id=100 + 7 * n % 61,  # ids in no particular order against the licences
                licence=f"L-{n:03d}",
                name=f"Lawyer {n}",
                firm_id=10 + lw["firm"] % len(firm_active),
                languages=lw["languages"],
                specialisations=("juvenile",) if lw["juvenile"] else (),
                max_open=lw["cap"],
                status=lw["status"],
                duty=lw["duty"],
            ),
            lw["serves"],
        )
        for n, lw in enumerate(lawyers)
    ]
    return territory_facts(TerritoryRow(1, "CEN", ()), firms, rows, rota)


def _request(urgency: str, language: str, juvenile: bool) -> Request:
    """A court order of this need (never written: the pool reads only the need)."""
    return Request(
        requester_id=1,
        external_ref="ORDER-1",
        payload_hash="0" * 64,
        kind=RequestKind.COURT_ORDER,
        category=Category.MINOR,
        status=RequestStatus.INVITING,
        case_number="CASE-1",
        territory_id=1,
        urgency=urgency,
        person_name="Person",
        person_language=language,
        person_juvenile=juvenile,
    )


def _assert_same(pool: Pool, expected: dict[str, Any]) -> None:
    assert as_found(pool) == expected
    # The very records the facts keep (explanations share them, never change them).
    assert all(
        a is b for a, b in zip(pool.excluded_lawyers, expected["excluded_lawyers"], strict=True)
    )


MOMENT = st.fixed_dictionaries(
    {
        "minutes": st.integers(0, 7 * 24 * 60 - 1),
        "paused": st.one_of(st.just("all"), st.sets(st.integers(0, 40), max_size=8)),
        "at_cap": st.dictionaries(st.integers(0, 40), st.integers(-1, 2), max_size=12),
        "invited": st.sets(st.integers(0, 40), max_size=4),
        "conflicts": st.sets(st.integers(0, 4), max_size=2),
        "rota": st.one_of(
            st.none(), st.tuples(st.booleans(), st.sets(st.integers(0, 40), max_size=10))
        ),
        "urgency": st.sampled_from(["detention", "standard"]),
        "language": st.sampled_from(["az", "ru", "en"]),
        "juvenile": st.booleans(),
        "policy": st.sampled_from([POLICY, EQUAL, ANY_LANGUAGE]),
    }
)


@settings(max_examples=400, deadline=None)
@given(
    firm_active=st.lists(st.integers(0, 5).map(bool), min_size=1, max_size=5),
    lawyers=st.lists(LAWYER, min_size=1, max_size=40),
    moments=st.lists(MOMENT, min_size=1, max_size=4),
)
def test_the_pool_judged_by_profile_is_the_pool_judged_lawyer_by_lawyer(
    firm_active: list[bool], lawyers: list[dict[str, Any]], moments: list[dict[str, Any]]
) -> None:
    ids = [100 + 7 * n % 61 for n in range(len(lawyers))]

    def some(numbers: set[int]) -> set[int]:
        # Lawyers of the territory by their number, and one of no lawyer here (id 999).
        return {ids[n] for n in numbers if n < len(ids)} | ({999} if 40 in numbers else set())

    session = Session(create_engine("sqlite://"))
    facts: TerritoryFacts | None = None
    for m in moments:
        now = MONDAY + timedelta(minutes=m["minutes"])
        rota = RotaCover((), ())
        if m["rota"] is not None:
            covers, on_duty = m["rota"]
            start = now - timedelta(hours=1) if covers else now + timedelta(hours=1)
            rota = RotaCover(
                ((start, start + timedelta(hours=8)),),
                tuple(sorted((start, start + timedelta(hours=8), i) for i in some(on_duty))),
            )
        if facts is None or facts.rota != rota:
            facts = _facts(firm_active, lawyers, rota)
        paused = frozenset(ids) if m["paused"] == "all" else frozenset(some(m["paused"]))
        at_cap: dict[int, int] = {}
        for n, over in m["at_cap"].items():
            if n < len(ids):
                at_cap[ids[n]] = max(0, lawyers[n]["cap"] + over)
        moment = Moment(now, paused, at_cap)
        invited = some(m["invited"])
        firm_ids = sorted(facts.firms)
        conflicts = {
            firm_ids[f % len(firm_ids)]: f"registered victim_counsel of L-{f:03d} in this case"
            for f in m["conflicts"]
        }
        request = _request(m["urgency"], m["language"], m["juvenile"])
        policy = m["policy"]
        expected = reference_pool(request, facts, policy, moment, invited, conflicts)
        pool = pool_of(session, request, facts, policy, moment, invited, conflicts)
        _assert_same(pool, expected)
        # What a rule does to its pool leaves the next pool alone (the facts keep the
        # lawyers judged alike): a second pool, judged from what the facts kept, is the same.
        for lws in pool.eligible.values():
            lws.reverse()
            lws.append(lws[0])
        pool.excluded_lawyers.clear()
        pool.excluded_firms.clear()
        _assert_same(pool_of(session, request, facts, policy, moment, invited, conflicts), expected)
        event(f"rota={facts.rota.on_duty(now) is not None} waived={pool.pause_waived}")
        for reason in {e["reason"] for e in expected["excluded_lawyers"]}:
            event(f"excluded for {reason}")


def test_a_pool_mutated_by_a_rule_leaves_the_kept_judgement_whole() -> None:
    """The lawyers judged alike are kept with the facts; a pool hands out its own lists."""
    lawyers = [
        {
            "firm": n % 2,
            "languages": ("az",),
            "juvenile": False,
            "cap": 2,
            "status": LawyerStatus.ACTIVE,
            "serves": True,
            "duty": (),
        }
        for n in range(6)
    ]
    facts = _facts([True, True], lawyers, RotaCover((), ()))
    request = _request("standard", "az", False)
    session = Session(create_engine("sqlite://"))
    moment = Moment(MONDAY, frozenset(), {})
    first = pool_of(session, request, facts, POLICY, moment, set(), {})
    assert [len(lws) for lws in first.eligible.values()] == [3, 3]
    for lws in first.eligible.values():
        lws.clear()
    second = pool_of(session, request, facts, POLICY, moment, set(), {})
    assert [len(lws) for lws in second.eligible.values()] == [3, 3]
    assert len(facts.alikes) == 1  # judged alike once, kept for the second pool
