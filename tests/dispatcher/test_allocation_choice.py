"""The suspect's choice as a decision: recorded while the lawyer is eligible, else why not."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, func, select

from dispatcher import allocation
from dispatcher.db import unit_of_work
from dispatcher.models import Decision, Lawyer, Request
from dispatcher.runtime import Runtime
from tests.support.clients import make_token
from tests.support.flows import open_request, runtime_at
from tests.support.registries import load_registry, small_registry


def _runtime(tmp_path: Path) -> Runtime:
    rt = runtime_at(tmp_path / "c.db")
    load_registry(rt, small_registry())
    make_token(rt, "investigator", "Police", territory="CEN")
    return rt


def _lawyer(session: Session, licence: str) -> Lawyer:
    return session.exec(select(Lawyer).where(Lawyer.licence == licence)).one()


def _decisions(session: Session, request: Request) -> int:
    return session.exec(
        select(func.count()).select_from(Decision).where(Decision.request_id == request.id)
    ).one()


def test_an_eligible_chosen_lawyer_is_recorded_as_the_decision(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    with unit_of_work(rt.engine) as session:
        request = open_request(session, rt, "R-1", kind="investigation")
        policy = rt.policies.for_territory("CEN")
        result = allocation.decide_choice(session, request, policy, _lawyer(session, "L-21"))
        assert isinstance(result, allocation.ChoiceRecorded)
        assert (result.firm.code, result.lawyer.licence) == ("F2", "L-21")
        assert result.decision.kind == "choice"
        assert result.decision.lawyer_id == result.lawyer.id
        assert result.decision.explanation["chosen"] == {"firm": "F2", "lawyer": "L-21"}
        assert _decisions(session, request) == 1


def test_a_chosen_lawyer_the_rules_exclude_records_nothing_and_says_why(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    with unit_of_work(rt.engine) as session:
        # L-22 is registered victim's counsel in this case.
        request = open_request(
            session, rt, "R-1", kind="investigation", case_number="1(101)-77/2026"
        )
        policy = rt.policies.for_territory("CEN")
        _lawyer(session, "L-13").status = "on_leave"
        session.flush()
        before = _decisions(session, request)
        for licence, reason in [("L-22", "conflict"), ("L-13", "on_leave")]:
            result = allocation.decide_choice(session, request, policy, _lawyer(session, licence))
            assert result == allocation.ChoiceExcluded(reason)
        assert _decisions(session, request) == before
