"""Duty swaps: the duty moves only when the colleague accepts and the rota's rules still hold;
a swap that would break rest, the night's languages or the weekly cap is refused with its
reason; every step is audited; availability recorded after approval changes no rota."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from dispatcher import audit, registry_version
from dispatcher.db import unit_of_work
from dispatcher.errors import Conflict, Invalid
from dispatcher.models import Lawyer, RotaAssignment
from dispatcher.rota import availability, service, swap
from dispatcher.runtime import Runtime
from policies.vocabulary import AvailabilityKind, SwapProblem, SwapStatus
from tests.support.rotas import ZONE, approved_rota, local

NOW = datetime(2027, 1, 20, 12, tzinfo=UTC)


def lawyer(session: Session, licence: str) -> Lawyer:
    return session.exec(select(Lawyer).where(Lawyer.licence == licence)).one()


def offer_and_answer(
    rt: Runtime, duty: int, giver: str, taker: str, *, accept: bool = True
) -> tuple[str, str | None]:
    with unit_of_work(rt.engine) as session:
        made = swap.offer(
            session,
            lawyer=lawyer(session, giver),
            assignment_id=duty,
            colleague=taker,
            policies=rt.policies,
            now=NOW,
            actor=f"lawyer:{giver}",
        )
        swap_id = made.id
    with unit_of_work(rt.engine) as session:
        answered = swap.answer(
            session,
            lawyer=lawyer(session, taker),
            swap_id=swap_id,
            accept=accept,
            policies=rt.policies,
            now=NOW,
            actor=f"lawyer:{taker}",
        )
        return answered.status, answered.problem


def holder(rt: Runtime, duty: int) -> str:
    with unit_of_work(rt.engine) as session:
        row = session.get(RotaAssignment, duty)
        assert row is not None
        found = session.get(Lawyer, row.lawyer_id)
        assert found is not None
        return found.licence


def test_an_accepted_swap_moves_the_duty_bumps_the_registry_and_is_audited(small: Runtime) -> None:
    day = local("2027-02-01", 8)
    duties = approved_rota(small, [("L-12", day), ("L-11", local("2027-02-01", 20))])
    with unit_of_work(small.engine) as session:
        before = registry_version.current(session)
        offered = swap.colleagues(
            session,
            lawyer=lawyer(session, "L-12"),
            assignment_id=duties["L-12", day],
            policies=small.policies,
        )
        assert {c.licence for c in offered} == {"L-11", "L-13", "L-21", "L-22", "L-31"}
    assert offer_and_answer(small, duties["L-12", day], "L-12", "L-22") == ("accepted", None)
    assert holder(small, duties["L-12", day]) == "L-22"
    with unit_of_work(small.engine) as session:
        assert registry_version.current(session) != before
        actions = [e.action for e in audit.trail(session)]
        assert actions[-2:] == ["duty_offered", "duty_swapped"]


def test_a_declined_offer_leaves_the_duty(small: Runtime) -> None:
    day = local("2027-02-01", 8)
    duties = approved_rota(small, [("L-12", day)])
    assert offer_and_answer(small, duties["L-12", day], "L-12", "L-13", accept=False) == (
        "declined",
        None,
    )
    assert holder(small, duties["L-12", day]) == "L-12"


def test_a_swap_that_breaks_rest_is_refused_with_its_reason(small: Runtime) -> None:
    day = local("2027-02-01", 8)
    # L-13 is on duty the night right after: taking the day would leave no rest between.
    duties = approved_rota(small, [("L-12", day), ("L-13", local("2027-02-01", 20))])
    status, problem = offer_and_answer(small, duties["L-12", day], "L-12", "L-13")
    assert (status, problem) == (SwapStatus.REFUSED, SwapProblem.REST)
    assert holder(small, duties["L-12", day]) == "L-12"
    with unit_of_work(small.engine) as session:
        assert [e.action for e in audit.trail(session)][-1] == "duty_swap_refused"


def test_a_swap_that_leaves_a_night_without_a_russian_speaker_is_refused(small: Runtime) -> None:
    night = local("2027-02-01", 20)
    duties = approved_rota(small, [("L-11", night)])
    status, problem = offer_and_answer(small, duties["L-11", night], "L-11", "L-12")
    assert (status, problem) == (SwapStatus.REFUSED, SwapProblem.LANGUAGE)
    assert holder(small, duties["L-11", night]) == "L-11"
    # A Russian-speaking colleague may take it.
    assert offer_and_answer(small, duties["L-11", night], "L-11", "L-21")[0] == "accepted"


def test_a_swap_beyond_the_weekly_cap_is_refused(small: Runtime) -> None:
    cap = small.policies.default.rota.weekly_cap
    days = [local(f"2027-02-0{1 + i}", 8) for i in range(cap)]
    last = local(f"2027-02-0{2 + cap}", 8)
    duties = approved_rota(small, [*(("L-13", d) for d in days), ("L-21", last)])
    assert offer_and_answer(small, duties["L-21", last], "L-21", "L-13") == (
        SwapStatus.REFUSED,
        SwapProblem.WEEKLY_CAP,
    )


def test_a_colleague_on_duty_elsewhere_at_that_time_cannot_take_it(small: Runtime) -> None:
    day = local("2027-02-01", 8)
    duties = approved_rota(small, [("L-12", day)])
    approved_rota(small, [("L-31", day)], territory="NOR")
    assert offer_and_answer(small, duties["L-12", day], "L-12", "L-31") == (
        SwapStatus.REFUSED,
        SwapProblem.OVERLAP,
    )


def test_offers_are_for_coming_duties_one_at_a_time_and_colleagues_of_the_territory(
    small: Runtime,
) -> None:
    day = local("2027-02-01", 8)
    duties = approved_rota(small, [("L-12", day)])
    duty = duties["L-12", day]
    with unit_of_work(small.engine) as session:
        with pytest.raises(Invalid):
            swap.offer(
                session,
                lawyer=lawyer(session, "L-12"),
                assignment_id=duty,
                colleague="L-99",
                policies=small.policies,
                now=NOW,
                actor="t",
            )
        with pytest.raises(Conflict):
            swap.offer(
                session,
                lawyer=lawyer(session, "L-12"),
                assignment_id=duty,
                colleague="L-13",
                policies=small.policies,
                now=day + timedelta(hours=1),
                actor="t",
            )
        swap.offer(
            session,
            lawyer=lawyer(session, "L-12"),
            assignment_id=duty,
            colleague="L-13",
            policies=small.policies,
            now=NOW,
            actor="t",
        )
        with pytest.raises(Conflict):
            swap.offer(
                session,
                lawyer=lawyer(session, "L-12"),
                assignment_id=duty,
                colleague="L-22",
                policies=small.policies,
                now=NOW,
                actor="t",
            )


def test_leave_after_approval_changes_no_rota_and_shows_the_clash(small: Runtime) -> None:
    day = local("2027-02-01", 8)
    night = local("2027-02-02", 20)
    duties = approved_rota(small, [("L-11", day), ("L-11", night)])
    with unit_of_work(small.engine) as session:
        me = lawyer(session, "L-11")
        availability.add_leave(
            session,
            lawyer=me,
            first=date(2027, 2, 1),
            last=date(2027, 2, 1),
            timezone="Asia/Baku",
            actor="t",
        )
        availability.set_opt_outs(session, lawyer=me, no_nights=True, no_weekends=False, actor="t")
    with unit_of_work(small.engine) as session:
        me = lawyer(session, "L-11")
        coming = availability.coming_duties(session, lawyer=me, policies=small.policies, now=NOW)
        assert [(d.assignment_id, d.clash) for d in coming] == [
            (duties["L-11", day], AvailabilityKind.LEAVE),
            (duties["L-11", night], AvailabilityKind.NO_NIGHTS),
        ]
        assert coming[0].start.utcoffset() == timedelta(hours=4)
        shown = availability.read(session, lawyer=me, timezone="Asia/Baku")
        assert [(v.first, v.last) for v in shown.leave] == [(date(2027, 2, 1), date(2027, 2, 1))]
        assert shown.no_nights and not shown.no_weekends
    assert holder(small, duties["L-11", day]) == "L-11"


def test_the_next_plan_respects_what_the_lawyer_recorded(small: Runtime) -> None:
    with unit_of_work(small.engine) as session:
        availability.set_opt_outs(
            session, lawyer=lawyer(session, "L-21"), no_nights=True, no_weekends=True, actor="t"
        )
        availability.add_leave(
            session,
            lawyer=lawyer(session, "L-13"),
            first=date(2027, 3, 1),
            last=date(2027, 3, 2),
            timezone="Asia/Baku",
            actor="t",
        )
    with pytest.raises(Invalid), unit_of_work(small.engine) as session:
        availability.add_leave(
            session,
            lawyer=lawyer(session, "L-13"),
            first=date(2027, 3, 2),
            last=date(2027, 3, 1),
            timezone="Asia/Baku",
            actor="t",
        )
    with unit_of_work(small.engine) as session:
        rota = service.plan(
            session,
            territory="CEN",
            first_day=date(2027, 2, 26),
            days=7,
            time_limit_s=3,
            policies=small.policies,
            actor="t",
        )
    assert rota.status in ("optimal", "feasible")
    mine = [d for d in rota.assignments if d.lawyer == "L-21"]
    assert mine and all(d.start.hour == 8 and d.start.weekday() < 5 for d in mine)
    away = (datetime(2027, 3, 1, tzinfo=ZONE), datetime(2027, 3, 3, tzinfo=ZONE))
    assert not [
        d for d in rota.assignments if d.lawyer == "L-13" and d.start < away[1] and away[0] < d.end
    ]


def test_the_weekly_cap_counts_the_colleagues_duties_in_other_territories(small: Runtime) -> None:
    # L-31 serves both territories: a full week of duties in NOR leaves no room in CEN's week.
    cap = small.policies.default.rota.weekly_cap
    days = [local(f"2027-02-0{1 + i}", 8) for i in range(cap)]
    last = local(f"2027-02-0{2 + cap}", 8)
    approved_rota(small, [("L-31", d) for d in days], territory="NOR")
    duties = approved_rota(small, [("L-21", last)], start=days[0])
    assert offer_and_answer(small, duties["L-21", last], "L-21", "L-31") == (
        SwapStatus.REFUSED,
        SwapProblem.WEEKLY_CAP,
    )
