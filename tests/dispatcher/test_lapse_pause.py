"""The lapse pause: after N expired invitations within T hours a lawyer gets none for P hours,
recorded in the audit; and within the firm the lawyer furthest below their share goes first,
with the decision saying so."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col, select

from dispatcher import allocation, deadlines
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import AuditEvent, Decision, Invitation, Lawyer, LawyerPause
from dispatcher.runtime import Runtime
from tests.support.clients import make_token
from tests.support.flows import accept_and_close, pending_invitation, runtime_at, submit_request
from tests.support.policies import policy_text
from tests.support.registries import load_registry, small_registry

PAUSE_HOURS = 5.0


def _runtime(tmp_path: Path) -> Runtime:
    rt = runtime_at(
        tmp_path / "pause.db",
        policy_text=policy_text(version="p", lapses=2, within_hours=24.0, pause_hours=PAUSE_HOURS),
    )
    load_registry(rt, small_registry())
    make_token(rt, "court", "Court One", territory="CEN")
    return rt


def _lapse(rt: Runtime, request_id: str) -> str:
    """The request's invited lawyer lets the invitation lapse; their licence."""
    with unit_of_work(rt.engine) as session:
        invitation, lawyer = pending_invitation(session, request_id)
        session.execute(
            update(Invitation)
            .where(col(Invitation.id) == invitation.id)
            .values(deadline=utcnow() - timedelta(seconds=1))
        )
        licence, invitation_id = lawyer.licence, invitation.id
    assert deadlines.expire_one(rt.engine, rt.policies, invitation_id)
    return licence


def _invited(rt: Runtime, request_id: str) -> str:
    with unit_of_work(rt.engine) as session:
        return pending_invitation(session, request_id)[1].licence


def _last_exclusions(rt: Runtime) -> dict[str, str]:
    with unit_of_work(rt.engine) as session:
        decision = session.exec(select(Decision).order_by(col(Decision.id).desc())).first()
        assert decision is not None
        tried = decision.explanation["tried"][0]
        return {e["licence"]: e["reason"] for e in tried["excluded_lawyers"]}


def test_two_lapses_pause_the_lawyer_for_the_policys_hours_then_they_return(
    tmp_path: Path,
) -> None:
    rt = _runtime(tmp_path)
    try:
        first = submit_request(rt, "R-0")
        lapsing = _lapse(rt, first)
        with unit_of_work(rt.engine) as session:
            accept_and_close(session, rt, first)
        # Requests until the same lawyer is invited again, who lets it lapse a second time.
        for i in range(1, 30):
            request_id = submit_request(rt, f"R-{i}")
            if _invited(rt, request_id) == lapsing:
                assert _lapse(rt, request_id) == lapsing
                with unit_of_work(rt.engine) as session:
                    accept_and_close(session, rt, request_id)
                break
            with unit_of_work(rt.engine) as session:
                accept_and_close(session, rt, request_id)
        else:
            raise AssertionError(f"{lapsing} was not invited again")

        with unit_of_work(rt.engine) as session:
            lawyer = session.exec(select(Lawyer).where(Lawyer.licence == lapsing)).one()
            assert lawyer.id is not None
            pause = allocation.current_pause(session, lawyer_id=lawyer.id, now=utcnow())
            assert pause is not None and pause.lapses == 2
            hours = (pause.ends_at - pause.starts_at).total_seconds() / 3600
            assert hours == PAUSE_HOURS
            [event] = session.exec(
                select(AuditEvent).where(AuditEvent.action == "lawyer.paused")
            ).all()
            assert event.entity_id == lapsing
            assert json.loads(event.payload)["until"] == pause.ends_at.isoformat()

        # While paused: never invited, and every decision says why.
        for i in range(30, 40):
            request_id = submit_request(rt, f"R-{i}")
            assert _invited(rt, request_id) != lapsing
            assert _last_exclusions(rt)[lapsing] == "paused"
            with unit_of_work(rt.engine) as session:
                accept_and_close(session, rt, request_id)

        # The pause is over: eligible again, and not paused again by the lapses before it.
        with unit_of_work(rt.engine) as session:
            session.execute(
                update(LawyerPause).values(
                    starts_at=utcnow() - timedelta(hours=PAUSE_HOURS + 1),
                    ends_at=utcnow() - timedelta(seconds=1),
                )
            )
        request_id = submit_request(rt, "R-back")
        assert lapsing not in _last_exclusions(rt)
        with unit_of_work(rt.engine) as session:
            assert session.exec(select(LawyerPause)).all()[0].lapses == 2
            assert len(session.exec(select(LawyerPause)).all()) == 1
        _ = request_id
    finally:
        rt.stop()


def test_the_decision_says_how_far_below_their_share_the_lawyer_is(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    try:
        for i in range(12):
            request_id = submit_request(rt, f"S-{i}")
            with unit_of_work(rt.engine) as session:
                accept_and_close(session, rt, request_id)
        with unit_of_work(rt.engine) as session:
            decisions = session.exec(select(Decision).order_by(col(Decision.id))).all()
            for decision in decisions:
                explanation = decision.explanation
                chosen = explanation["chosen"]
                [queued] = [
                    q for q in explanation["lawyer_queue"] if q["licence"] == chosen["lawyer"]
                ]
                assert queued["shortfall"] == max(
                    q["shortfall"] for q in explanation["lawyer_queue"]
                )
                assert explanation["lawyer_turn"] == (
                    f"{chosen['lawyer']} is {queued['shortfall']:.1f} below their share "
                    f"in {chosen['firm']}"
                )
    finally:
        rt.stop()


def test_a_detention_goes_first_to_those_who_answer_and_the_decision_says_whom_it_passed(
    tmp_path: Path,
) -> None:
    # No pause here (lapses = 0): L-11 lets every detention lapse and stays eligible.
    rt = runtime_at(
        tmp_path / "steer.db",
        policy_text=policy_text(version="s", lapses=0, within_hours=24.0, answering_reach=1.0),
    )
    load_registry(rt, small_registry())
    make_token(rt, "court", "Court One", territory="CEN")
    try:
        for i in range(24):
            request_id = submit_request(rt, f"D-{i}", urgency="detention")
            if _invited(rt, request_id) == "L-11":
                _lapse(rt, request_id)
            with unit_of_work(rt.engine) as session:
                accept_and_close(session, rt, request_id)
        passed = 0
        with unit_of_work(rt.engine) as session:
            decisions = session.exec(select(Decision).order_by(col(Decision.id))).all()
            for decision in decisions:
                explanation = decision.explanation
                queue = explanation["lawyer_queue"]
                [chosen] = [q for q in queue if q["licence"] == explanation["chosen"]["lawyer"]]
                furthest = max(q["shortfall"] for q in queue)
                # Every detention records who lapsed; a lapsed lawyer goes first only when no
                # one who answers stands within reach of the one furthest below.
                assert all("lapsed" in q for q in queue)
                if chosen["lapsed"]:
                    assert all(q["lapsed"] or q["shortfall"] < furthest - 1.0 for q in queue)
                else:
                    assert chosen["shortfall"] >= furthest - 1.0 - 1e-9
                if chosen["shortfall"] < furthest - 1e-9:
                    assert (
                        "a detention goes first to a lawyer who answers: L-11"
                        in (explanation["lawyer_turn"])
                    )
                    passed += 1
                assert "let no invitation lapse lately" in explanation["rule"]["lawyer_order"]
            assert passed > 0
        # A standard request keeps the plain order (the one furthest below first, L-11 included:
        # they catch up their share here); no lapse is recorded in its queue.
        for i in range(6):
            request_id = submit_request(rt, f"S-{i}")
            with unit_of_work(rt.engine) as session:
                last = session.exec(select(Decision).order_by(col(Decision.id).desc())).first()
                assert last is not None
                queue = last.explanation["lawyer_queue"]
                assert all("lapsed" not in q for q in queue)
                assert queue[0]["shortfall"] == max(q["shortfall"] for q in queue)
                accept_and_close(session, rt, request_id)
    finally:
        rt.stop()
