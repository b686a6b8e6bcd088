"""The pool reads the loads of the lawyers at their cap alone, and the exclusions stay exact.

`build_pool` no longer counts the open work of every lawyer of the territory: the database
returns only the lawyers whose open appointments and pending invitations reach their cap
(`statements.AT_CAP`), and a firm's other lawyers get their loads when the firm is weighed.
Over random open work, every lawyer must still be judged as a full count judges them: "cap"
exactly for those at or over it, the counts read equal to the true ones, and the queue's
record showing each weighed lawyer's true load.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, func, select

from dispatcher import allocation
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Appointment, Invitation, Lawyer, Request
from tests.support.clients import make_token
from tests.support.flows import (
    accept_and_close,
    accept_pending,
    open_request,
    pending,
    runtime_at,
)
from tests.support.registries import load_registry


def _registry(caps: list[list[int]]) -> dict[str, Any]:
    """One territory, a firm per list, a lawyer per cap, all alike but for the cap."""
    return {
        "territories": [{"code": "CEN", "name": {"az": "M", "ru": "Ц", "en": "C"}, "fallback": []}],
        "firms": [
            {"code": f"F{f}", "name": f"Firm {f}", "territories": ["CEN"]} for f in range(len(caps))
        ],
        "lawyers": [
            {
                "licence": f"L-{f}-{n}",
                "name": f"L-{f}-{n}",
                "firm": f"F{f}",
                "territories": ["CEN"],
                "languages": ["az"],
                "max_open": cap,
            }
            for f, firm in enumerate(caps)
            for n, cap in enumerate(firm)
        ],
        "conflicts": [],
    }


def _true_loads(session: Session) -> dict[int, int]:
    """Every lawyer's open appointments plus pending invitations, counted the plain way."""
    loads: dict[int, int] = {}
    for lawyer in session.exec(select(Lawyer)).all():
        assert lawyer.id is not None
        loads[lawyer.id] = (
            session.exec(
                select(func.count())
                .select_from(Appointment)
                .where(Appointment.lawyer_id == lawyer.id, col(Appointment.closed_at).is_(None))
            ).one()
            + session.exec(
                select(func.count())
                .select_from(Invitation)
                .where(Invitation.lawyer_id == lawyer.id, Invitation.status == "pending")
            ).one()
        )
    return loads


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    caps=st.lists(
        st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=3),
        min_size=1,
        max_size=3,
    ),
    answers=st.lists(st.sampled_from(["pending", "accept", "accept", "close"]), max_size=10),
)
def test_the_pool_judges_the_cap_as_a_full_count_does(
    tmp_path_factory: Any, caps: list[list[int]], answers: list[str]
) -> None:
    rt = runtime_at(tmp_path_factory.mktemp("loads") / "loads.db")
    try:
        load_registry(rt, _registry(caps))
        make_token(rt, "court", "Court", territory="CEN")
        make_token(rt, "investigator", "Investigator", territory="CEN")
        # Open work of every kind: invitations left pending, appointments open and closed.
        for i, answer in enumerate(answers):
            with unit_of_work(rt.engine) as session:
                request = open_request(session, rt, f"R-{i}")
                if pending(session, request.id) is None:
                    continue  # every lawyer at their cap: the request went unfilled
                if answer == "accept":
                    accept_pending(session, rt, request.id)
                elif answer == "close":
                    accept_and_close(session, rt, request.id)
        with unit_of_work(rt.engine) as session:
            probe = open_request(session, rt, "PROBE", kind="investigation")
        with unit_of_work(rt.engine) as session:
            found = session.get(Request, probe.id)
            assert found is not None
            request = found
            loads = _true_loads(session)
            caps_of = {lw.id: lw.max_open for lw in session.exec(select(Lawyer)).all()}
            licences = {lw.id: lw.licence for lw in session.exec(select(Lawyer)).all()}
            kept = allocation.kept_registry(session)
            facts = kept.facts_of(session, kept.territories[request.territory_id])
            pool = allocation.build_pool(
                session, request, facts, rt.policies.for_territory("CEN"), utcnow()
            )
            reasons = {e["licence"]: e["reason"] for e in pool.excluded_lawyers}
            eligible = {lw.id for lws in pool.eligible.values() for lw in lws}
            for lawyer_id, load in loads.items():
                at_cap = load >= caps_of[lawyer_id]
                assert (reasons.get(licences[lawyer_id]) == "cap") == at_cap, licences[lawyer_id]
                assert (lawyer_id in eligible) == (not at_cap)
                if at_cap:
                    assert pool.load[lawyer_id] == load
            # The others' loads come with their firm's workloads, as the queue records them.
            for firm_id in list(pool.eligible):
                pool.weigh(firm_id)
            for lawyer_id in eligible:
                assert pool.load[lawyer_id] == loads[lawyer_id]
    finally:
        rt.stop()
