"""Invariant 2 through the real allocator: no invitation ever breaks an eligibility rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, func, select

from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import (
    Appointment,
    Conflict,
    Firm,
    Invitation,
    Lawyer,
    LawyerTerritory,
    Request,
    Territory,
)
from tests.support.clients import make_token
from tests.support.flows import (
    accept_and_close,
    accept_pending,
    decline_pending,
    open_request,
    pending,
    runtime_at,
)
from tests.support.registries import load_registry

CASE = "1(101)-77/2026"
LANGS = ["az", "ru", "en"]


def _duty(kind: str) -> list[dict[str, Any]]:
    """A window around now (on duty), one on another day (off duty), or none (always on)."""
    local = utcnow().astimezone(ZoneInfo("Asia/Baku"))
    if kind == "always":
        return []
    if kind == "now":
        start = (local - timedelta(hours=1)).strftime("%H:%M")
        end = (local + timedelta(hours=1)).strftime("%H:%M")
        return [{"weekday": local.weekday(), "start": start, "end": end}]
    return [{"weekday": (local.weekday() + 3) % 7, "start": "09:00", "end": "10:00"}]


lawyer_st = st.fixed_dictionaries(
    {
        "languages": st.sets(st.sampled_from(LANGS), min_size=1),
        "juvenile": st.booleans(),
        "max_open": st.integers(min_value=1, max_value=2),
        "status": st.sampled_from(["active", "active", "active", "on_leave", "suspended"]),
        "duty": st.sampled_from(["always", "now", "other_day"]),
        "territory": st.sampled_from(["CEN", "CEN", "NOR"]),
        "conflict": st.booleans(),
    }
)
firm_st = st.fixed_dictionaries(
    {"suspended": st.booleans(), "lawyers": st.lists(lawyer_st, min_size=1, max_size=4)}
)
step_st = st.fixed_dictionaries(
    {
        "language": st.sampled_from(LANGS),
        "juvenile": st.booleans(),
        "urgency": st.sampled_from(["detention", "standard"]),
        "same_case": st.booleans(),
        "answer": st.sampled_from(["accept", "decline", "decline", "none", "close"]),
    }
)


def _registry(firms: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "territories": [
            {"code": "CEN", "name": {"az": "M", "ru": "Ц", "en": "C"}, "fallback": ["NOR"]},
            {"code": "NOR", "name": {"az": "Ş", "ru": "С", "en": "N"}, "fallback": []},
        ],
        "firms": [],
        "lawyers": [],
        "conflicts": [],
    }
    for f, firm in enumerate(firms):
        data["firms"].append(
            {
                "code": f"F{f}",
                "name": f"Firm {f}",
                "territories": ["CEN", "NOR"],
                "status": "suspended" if firm["suspended"] and f > 0 else "active",
            }
        )
        for n, lw in enumerate(firm["lawyers"]):
            licence = f"L-{f}-{n}"
            data["lawyers"].append(
                {
                    "licence": licence,
                    "name": licence,
                    "firm": f"F{f}",
                    "territories": [lw["territory"]],
                    "languages": sorted(lw["languages"]),
                    "specialisations": ["juvenile"] if lw["juvenile"] else [],
                    "max_open": lw["max_open"],
                    "status": lw["status"],
                    "duty": _duty(lw["duty"]),
                }
            )
            if lw["conflict"]:
                data["conflicts"].append(
                    {"lawyer": licence, "case_number": CASE, "role": "victim_counsel"}
                )
    return data


def _check_invitation(session: Session, invitation: Invitation, request: Request) -> None:
    lawyer = session.get(Lawyer, invitation.lawyer_id)
    firm = session.get(Firm, invitation.firm_id)
    assert lawyer is not None and firm is not None
    assert lawyer.firm_id == firm.id
    assert lawyer.status == "active" and firm.status == "active"
    assert request.person_language in lawyer.languages
    if request.person_juvenile:
        assert "juvenile" in lawyer.specialisations
    # Territory: the request's own, or a fallback that the decision recorded.
    served = set(
        session.exec(
            select(Territory.code)
            .join(LawyerTerritory, col(LawyerTerritory.territory_id) == Territory.id)
            .where(LawyerTerritory.lawyer_id == lawyer.id)
        ).all()
    )
    home = session.get(Territory, request.territory_id)
    assert home is not None
    if home.code not in served:
        from dispatcher.models import Decision

        decision = session.get(Decision, invitation.decision_id)
        assert decision is not None and decision.via_fallback in served
        assert decision.via_fallback in home.fallback
    # Conflicts, with imputation to the whole firm.
    conflicted_firms = set(
        session.exec(
            select(Lawyer.firm_id)
            .join(Conflict, col(Conflict.lawyer_id) == Lawyer.id)
            .where(Conflict.case_number == request.case_number)
        ).all()
    )
    assert firm.id not in conflicted_firms
    # Duty for detentions, at the moment of the invitation.
    if request.urgency == "detention" and lawyer.duty:
        from datetime import time as dtime

        from policies.eligibility import DutyWindow, on_duty

        windows = [
            DutyWindow(w["weekday"], dtime.fromisoformat(w["start"]), dtime.fromisoformat(w["end"]))
            for w in lawyer.duty
        ]
        assert on_duty(windows, invitation.created_at.astimezone(ZoneInfo("Asia/Baku")))


def _check_caps(session: Session) -> None:
    for lawyer in session.exec(select(Lawyer)).all():
        open_ = session.exec(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.lawyer_id == lawyer.id, col(Appointment.closed_at).is_(None))
        ).one()
        pending = session.exec(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.lawyer_id == lawyer.id, Invitation.status == "pending")
        ).one()
        assert open_ + pending <= lawyer.max_open, lawyer.licence


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    firms=st.lists(firm_st, min_size=2, max_size=4),
    steps=st.lists(step_st, min_size=1, max_size=12),
)
def test_no_invitation_breaks_an_eligibility_rule(
    tmp_path_factory: Any, firms: list[dict[str, Any]], steps: list[dict[str, Any]]
) -> None:
    path = tmp_path_factory.mktemp("elig") / "elig.db"
    rt = runtime_at(path)
    try:
        load_registry(rt, _registry(firms))
        make_token(rt, "court", "Court", territory="CEN")
        for i, step in enumerate(steps):
            with unit_of_work(rt.engine) as session:
                request = open_request(
                    session,
                    rt,
                    f"R-{i}",
                    case_number=CASE if step["same_case"] else f"C-{i}",
                    urgency=step["urgency"],
                    person={
                        "name": f"P {i}",
                        "language": step["language"],
                        "juvenile": step["juvenile"],
                    },
                )
            # Answer along the ladder until it ends or we leave it pending.
            for _ in range(6):
                with unit_of_work(rt.engine) as session:
                    request = session.get(Request, request.id) or request
                    for invitation in session.exec(
                        select(Invitation).where(Invitation.request_id == request.id)
                    ).all():
                        _check_invitation(session, invitation, request)
                    _check_caps(session)
                    # `pending` also fails if more than one invitation is pending.
                    if pending(session, request.id) is None or step["answer"] == "none":
                        break
                    if step["answer"] == "decline":
                        decline_pending(session, rt, request.id, "busy")
                        continue
                    if step["answer"] == "close":
                        accept_and_close(session, rt, request.id)
                    else:
                        accept_pending(session, rt, request.id)
                    break
    finally:
        rt.stop()
