"""The pocket-lawyer detector on histories made through the real workflow.

Two investigators open requests in CEN; each suspect gets the tablet list and chooses, the
chosen lawyer accepts and closes the case; a court sends orders the rotation allocates. In the
steered history one investigator's suspects take L-31 whenever L-31 is on the list; in the
honest one every suspect chooses uniformly at random from the list (seeded).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sqlmodel import Session, select

from dispatcher import schemas, workflow
from dispatcher.db import unit_of_work
from dispatcher.models import Request, Requester
from dispatcher.reports import flags, overview
from dispatcher.runtime import Runtime
from tests.support.clients import make_token
from tests.support.flows import accept_and_close, context, request_body

STEERED_LAWYER = "L-31"


def by_name(session: Session, name: str) -> Requester:
    return session.exec(select(Requester).where(Requester.name == name)).one()


def history(rt: Runtime, *, steer: bool, rounds: int = 24, seed: int = 7) -> None:
    make_token(rt, "investigator", "Police A", territory="CEN")
    make_token(rt, "investigator", "Police B", territory="CEN")
    make_token(rt, "court", "Court One", territory="CEN")
    rng = random.Random(seed)
    ctx = context(rt)
    for i in range(rounds):
        for name in ("Police A", "Police B"):
            with unit_of_work(rt.engine) as session:
                request, _ = workflow.create_request(
                    session,
                    request_body(f"{name[-1]}-{i}", kind="investigation"),
                    requester=by_name(session, name),
                    ctx=ctx,
                )
                opened = workflow.open_choice_session(session, request, ctx)
                # Sorted by licence, so the seeded choice does not hang on the shuffled order.
                shown = sorted(str(o["lawyer"]) for o in opened.session.options)
                if steer and name == "Police A" and STEERED_LAWYER in shown:
                    chosen = STEERED_LAWYER
                else:
                    chosen = rng.choice(shown)
                workflow.record_choice(session, opened.token, schemas.ChoiceIn(lawyer=chosen), ctx)
                accept_and_close(session, rt, request.id)
        if i % 3 == 0:
            with unit_of_work(rt.engine) as session:
                request, _ = workflow.create_request(
                    session,
                    request_body(f"C-{i}"),
                    requester=by_name(session, "Court One"),
                    ctx=ctx,
                )
                accept_and_close(session, rt, request.id)


def test_a_steering_investigator_is_flagged(small: Runtime) -> None:
    history(small, steer=True)
    with unit_of_work(small.engine) as session:
        flagged = flags.pocket_lawyers(session, territory="CEN")
        tested = flags.pair_tests(session, territory="CEN")
    assert [(f["requester"], f["lawyer"]) for f in flagged] == [("Police A", STEERED_LAWYER)]
    [evidence] = flagged
    assert evidence["to_lawyer"] > 2 * evidence["expected"]
    assert evidence["q_value"] < flags.FDR and evidence["p_value"] <= evidence["q_value"]
    assert evidence["requests"] == 24  # every choice of Police A is a trial
    # The honest investigator in the same history is not flagged with any lawyer.
    assert not any(r["flagged"] for r in tested if r["requester"] != "Police A")
    # The court's rotation orders are tested too, and never flagged.
    assert any(r["requester"] == "Court One" for r in tested)


def test_an_honest_history_flags_nothing(small: Runtime) -> None:
    history(small, steer=False)
    with unit_of_work(small.engine) as session:
        tested = flags.pair_tests(session, territory="CEN")
        flagged = flags.pocket_lawyers(session)
    assert flagged == []
    assert len(tested) >= 10 and all(0.0 <= r["p_value"] <= r["q_value"] <= 1.0 for r in tested)
    # Each requester's expectations add up to its trials: a fair null spreads all of them.
    for name in ("Police A", "Police B", "Court One"):
        rows = [r for r in tested if r["requester"] == name]
        expected = sum(r["expected"] for r in rows)
        assert expected == pytest.approx(sum(r["to_lawyer"] for r in rows), abs=1e-3)


def test_the_period_and_territory_limit_the_pairs(small: Runtime) -> None:
    history(small, steer=True, rounds=3)
    with unit_of_work(small.engine) as session:
        assert flags.pair_tests(session, territory="NOR") == []
        assert flags.pair_tests(session, end=datetime(2000, 1, 1, tzinfo=UTC)) == []


def _alike(got: Sequence[Mapping[str, object]], want: Sequence[Mapping[str, object]]) -> bool:
    """The same rows: floats equal to 12 significant digits, everything else exactly."""

    def same(a: object, b: object) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
        return a == b

    return len(got) == len(want) and all(
        a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        for a, b in zip(got, want, strict=True)
    )


def test_every_months_tests_read_in_one_pass_are_each_months_own(small: Runtime) -> None:
    """`pair_tests_by_month` (the public page's flags) equals `pair_tests` month by month."""
    history(small, steer=True, rounds=30)
    rng = random.Random(3)
    first = datetime(2026, 1, 10, 12, tzinfo=UTC)
    with unit_of_work(small.engine) as session:
        for request in session.exec(select(Request)).all():
            # Spread the requests over five months, each keeping its choice and appointment.
            request.created_at = first.replace(month=1 + rng.randrange(5))
            session.add(request)
    with unit_of_work(small.engine) as session:
        by_month = flags.pair_tests_by_month(session)
        assert sorted(by_month) == [f"2026-0{m}" for m in range(1, 6)]
        for month, tested in by_month.items():
            start = datetime.fromisoformat(f"{month}-01T00:00:00+00:00")
            end = start.replace(month=start.month + 1)
            # The p-values come from one array call over different arrays: equal to the last
            # digits or so (PostgreSQL and SQLite sum and order their rows differently).
            assert _alike(tested, flags.pair_tests(session, start=start, end=end)), month
            assert tested and all(t["requests"] < 30 for t in tested)
        # The public page computes only the month it shows: the same rows as every month's.
        every = overview.public_rows(session)
        assert overview.public_months(session) == sorted(by_month, reverse=True)
        for month in by_month:
            assert _alike(
                overview.public_rows(session, month), [r for r in every if r["month"] == month]
            )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.integers(1, 400).flatmap(
            lambda n: st.tuples(
                st.integers(0, n), st.just(n), st.floats(0.0, 1.5 * n, allow_nan=False)
            )
        ),
        max_size=30,
    )
)
def test_the_p_values_in_one_array_call_are_the_binomial_tests(
    pairs: list[tuple[int, int, float]],
) -> None:
    """The flags' p-values, computed for all pairs at once, are scipy's one-sided binomial
    test of each pair (1 for a pair with no success)."""
    got = flags.p_values_of(
        [k for k, _, _ in pairs], [n for _, n, _ in pairs], [e for *_, e in pairs]
    )
    want = [
        1.0 if k == 0 else stats.binomtest(k, n, min(1.0, e / n), alternative="greater").pvalue
        for k, n, e in pairs
    ]
    assert got == pytest.approx(want, rel=1e-12, abs=1e-300)
