"""The planner on small random registries: every slot covered, rest, caps and leave hold,
firm duties within 1 of their share whenever that can hold; an impossible rota says why."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatcher.rota.model import (
    RotaInput,
    RotaLawyer,
    Slot,
    SolverSettings,
    available,
    make_slots,
    solve,
)
from policies.config import load_policy_book
from policies.vocabulary import RotaOutcome, RotaProblem

POLICY = load_policy_book().default
ONE_THREAD = SolverSettings(time_limit_s=3.0, num_workers=1, presolve=True)


@st.composite
def inputs(draw: st.DrawFn) -> RotaInput:
    slot_hours = draw(st.sampled_from([8, 12]))
    rota = POLICY.rota.model_copy(update={"slot_hours": slot_hours})
    first = date(2027, 1, 4) + timedelta(days=draw(st.integers(0, 6)))
    days = draw(st.integers(2, 8))
    slots = make_slots(first, days, POLICY.timezone, rota)
    n = draw(st.integers(2, 8))
    firms = [f"F{i}" for i in range(draw(st.integers(1, 3)))]
    lawyers = []
    for i in range(n):
        leave: tuple[tuple[datetime, datetime], ...] = ()
        if draw(st.booleans()):
            at = slots[draw(st.integers(0, len(slots) - 1))].start
            leave = ((at, at + timedelta(hours=draw(st.integers(1, 48)))),)
        lawyers.append(
            RotaLawyer(
                licence=f"L{i}",
                firm=firms[i % len(firms)],
                languages=frozenset(["az", *(["ru"] if draw(st.booleans()) else [])]),
                juvenile=draw(st.booleans()),
                leave=leave,
                no_nights=draw(st.booleans()) and i > 1,
            )
        )
    weights = Counter(lw.firm for lw in lawyers)
    return RotaInput(
        territory="T",
        slots=slots,
        lawyers=tuple(lawyers),
        firm_weights=dict(weights),
        night_languages=tuple(draw(st.sampled_from([(), ("ru",)]))),
        juvenile_each_slot=draw(st.booleans()),
        rest_hours=draw(st.sampled_from([0, 8, 12])),
        weekly_cap=draw(st.integers(2, 6)),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_a_plan_keeps_every_rule(data: RotaInput) -> None:
    plan = solve(data, ONE_THREAD)
    if plan.status == RotaOutcome.INFEASIBLE:
        assert plan.problems and not plan.assignments
        return
    by_slot = defaultdict(list)
    for licence, slot in plan.assignments:
        by_slot[slot.index].append(next(lw for lw in data.lawyers if lw.licence == licence))
    rest = timedelta(hours=data.rest_hours)
    for slot in data.slots:
        on = by_slot[slot.index]
        assert len(on) == slot.need
        assert all(available(lw, slot, rest) for lw in on)  # leave and opt-outs respected
        if slot.night:
            for language in data.night_languages:
                assert any(language in lw.languages for lw in on)
        if data.juvenile_each_slot:
            assert any(lw.juvenile for lw in on)
    duties: dict[str, list[Slot]] = defaultdict(list)
    for licence, slot in plan.assignments:
        duties[licence].append(slot)
    for slots in duties.values():
        for a, b in pairwise(slots):
            assert b.start - a.end >= rest
        for week, n in Counter(s.week for s in slots).items():
            assert n <= data.weekly_cap, week
    assert plan.figures is not None
    if not plan.problems:  # firm shares held: every firm within 1 of its share
        assert plan.figures["firm_deviation_max"] <= 1.0
        total = sum(data.firm_weights.values())
        for firm, weight in data.firm_weights.items():
            count = sum(
                1
                for licence, _ in plan.assignments
                if licence in {lw.licence for lw in data.lawyers if lw.firm == firm}
            )
            assert abs(count - len(plan.assignments) * weight / total) <= 1.0 + 1e-9


def _team(english: int, others: int) -> tuple[RotaLawyer, ...]:
    return tuple(
        RotaLawyer(f"L{i}", f"F{i % 2}", frozenset(["az", "en"] if i < english else ["az"]), False)
        for i in range(english + others)
    )


def test_too_few_speakers_for_the_nights_are_named() -> None:
    lawyers = _team(2, 6)
    data = RotaInput(
        territory="T",
        slots=make_slots(date(2027, 1, 4), 28, POLICY.timezone, POLICY.rota),
        lawyers=lawyers,
        firm_weights=dict(Counter(lw.firm for lw in lawyers)),
        night_languages=("en",),
        juvenile_each_slot=False,
        rest_hours=12,
        weekly_cap=3,
    )
    plan = solve(data, ONE_THREAD)
    assert plan.status == RotaOutcome.INFEASIBLE
    assert plan.problems[-1].text() == (
        "2 English speakers cannot cover 28 nights within the weekly cap of 3 duties"
    )
    # With a cap that lets two speakers cover the nights, the same team is planned.
    assert solve(RotaInput(**{**data.__dict__, "weekly_cap": 4}), ONE_THREAD).status in (
        RotaOutcome.OPTIMAL,
        RotaOutcome.FEASIBLE,
    )


def test_a_territory_too_small_for_round_the_clock_cover_is_named() -> None:
    lawyers = _team(0, 2)
    data = RotaInput(
        territory="AGC",
        slots=make_slots(date(2027, 1, 4), 28, POLICY.timezone, POLICY.rota),
        lawyers=lawyers,
        firm_weights=dict(Counter(lw.firm for lw in lawyers)),
        night_languages=("ru",),
        juvenile_each_slot=False,
        rest_hours=12,
        weekly_cap=4,
    )
    plan = solve(data, ONE_THREAD)
    assert plan.status == RotaOutcome.INFEASIBLE
    assert "Russian" in plan.problems[-1].text() or "cannot fill" in plan.problems[-1].text()


def _four_weeks(
    lawyers: tuple[RotaLawyer, ...], weights: dict[str, int], cap: int = 4
) -> RotaInput:
    return RotaInput(
        territory="T",
        slots=make_slots(date(2027, 1, 4), 28, POLICY.timezone, POLICY.rota),
        lawyers=lawyers,
        firm_weights=weights,
        night_languages=("ru",),
        juvenile_each_slot=False,
        rest_hours=12,
        weekly_cap=cap,
    )


def _firm_duties(data: RotaInput, plan_assignments: tuple[tuple[str, Slot], ...]) -> Counter[str]:
    firm_of = {lw.licence: lw.firm for lw in data.lawyers}
    return Counter(firm_of[licence] for licence, _ in plan_assignments)


def test_firm_duties_stay_under_1_from_their_share_when_lawyers_are_uneven() -> None:
    # Two firms of equal weight, 3 and 4 lawyers: their shares of 56 duties are 28 each.
    # "Within 1" alone would let the smaller firm take 27 and the larger 29 (lawyers' totals
    # closer to even); under 1 holds them at 28.
    lawyers = tuple(
        RotaLawyer(f"L{i}", firm, frozenset(["az", "ru"]), False)
        for i, firm in enumerate(["A"] * 3 + ["B"] * 4)
    )
    data = _four_weeks(lawyers, {"A": 1, "B": 1})
    plan = solve(data, SolverSettings(time_limit_s=20.0, num_workers=2, presolve=False))
    assert plan.status in (RotaOutcome.OPTIMAL, RotaOutcome.FEASIBLE) and not plan.problems
    assert plan.figures is not None and plan.figures["firm_deviation_max"] < 1.0
    assert _firm_duties(data, plan.assignments) == {"A": 28, "B": 28}


def test_nights_are_even_among_the_speakers_who_can_take_them() -> None:
    # One lawyer a night and a Russian speaker every night: the nights fall to the 3
    # speakers, and among them they are within 1 of even (28 nights: 9 or 10 each).
    lawyers = tuple(
        RotaLawyer(f"L{i}", f"F{i % 2}", frozenset(["az", "ru"] if i < 3 else ["az"]), False)
        for i in range(9)
    )
    data = _four_weeks(lawyers, dict(Counter(lw.firm for lw in lawyers)))
    plan = solve(data, SolverSettings(time_limit_s=20.0, num_workers=2, presolve=False))
    assert plan.status in (RotaOutcome.OPTIMAL, RotaOutcome.FEASIBLE)
    nights = Counter(licence for licence, slot in plan.assignments if slot.night)
    speakers = [nights[f"L{i}"] for i in range(3)]
    assert sum(speakers) == 28 and max(speakers) - min(speakers) <= 1
    assert plan.figures is not None
    assert plan.figures["nights"] == {"min": min(speakers), "max": max(speakers)}


def test_relaxed_firm_shares_keep_the_largest_deviation_as_small_as_it_can_be() -> None:
    # The one speaker of firm S (weight 1 of 6) must take the nights the other speaker's
    # weekly cap leaves (28 - 16 = 12), 2.67 over its share of 9.33; no plan does better,
    # and the other firms stay within 1.
    firms = ["M", "S", "O", "M", "M", "M"]
    lawyers = tuple(
        RotaLawyer(f"L{i}", firm, frozenset(["az", "ru"] if i < 2 else ["az"]), False)
        for i, firm in enumerate(firms)
    )
    data = _four_weeks(lawyers, {"M": 4, "S": 1, "O": 1})
    plan = solve(data, SolverSettings(time_limit_s=30.0, num_workers=2, presolve=False))
    assert plan.status in (RotaOutcome.OPTIMAL, RotaOutcome.FEASIBLE)
    assert plan.problems[0].key == RotaProblem.FIRM_SHARES_RELAXED
    assert (
        plan.problems[0]
        .text()
        .startswith("2 Russian speakers cannot cover 28 nights within the weekly cap of 4 duties")
    )
    assert plan.figures is not None
    deviations = {f["firm"]: f["deviation"] for f in plan.figures["firms"]}
    assert deviations["S"] == 2.667
    assert abs(deviations["M"]) < 2 and abs(deviations["O"]) < 2


def test_a_territory_nobody_serves_says_so() -> None:
    plan = solve(_four_weeks((), {}), ONE_THREAD)
    assert plan.status == RotaOutcome.INFEASIBLE
    assert plan.problems[-1].text() == "No lawyer serves T, so its 56 slots cannot be filled"


def test_lawyers_without_the_night_language_still_take_their_share_of_duties() -> None:
    # 6 of 12 lawyers speak Russian: they take the 28 nights, the others the days, and every
    # lawyer's total is within 1 of even (56 duties: 4 or 5 each).
    lawyers = tuple(
        RotaLawyer(f"L{i}", f"F{i % 3}", frozenset(["az", "ru"] if i % 2 else ["az"]), False)
        for i in range(12)
    )
    data = _four_weeks(lawyers, dict(Counter(lw.firm for lw in lawyers)))
    plan = solve(data, SolverSettings(time_limit_s=20.0, num_workers=2, presolve=False))
    assert plan.status in (RotaOutcome.OPTIMAL, RotaOutcome.FEASIBLE)
    totals = Counter(licence for licence, _ in plan.assignments)
    assert {totals[lw.licence] for lw in lawyers} <= {4, 5}
    assert plan.figures is not None and plan.figures["totals"] == {"min": 4, "max": 5}


def test_lawyers_with_duties_elsewhere_are_still_evened_out() -> None:
    # All 9 lawyers also serve another territory (one duty there each): none is free for
    # every slot here, yet the 56 duties are spread 6 or 7 each, not 7 each and one at 0.
    slots = make_slots(date(2027, 1, 4), 28, POLICY.timezone, POLICY.rota)
    lawyers = tuple(
        RotaLawyer(
            f"L{i}",
            f"F{i % 3}",
            frozenset(["az", "ru"]),
            False,
            elsewhere=((slots[5 * i].start, slots[5 * i].end),),
        )
        for i in range(9)
    )
    data = _four_weeks(lawyers, dict(Counter(lw.firm for lw in lawyers)))
    plan = solve(data, SolverSettings(time_limit_s=20.0, num_workers=2, presolve=False))
    assert plan.status in (RotaOutcome.OPTIMAL, RotaOutcome.FEASIBLE)
    here = Counter(licence for licence, _ in plan.assignments)
    assert {here[lw.licence] for lw in lawyers} <= {6, 7}
    assert plan.figures is not None and plan.figures["totals"]["max"] == 7
