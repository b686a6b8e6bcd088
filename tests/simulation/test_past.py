"""Past decisions written in bulk: the rows the allocator reads, and the allocator after them."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlmodel import col, func, select

from dispatcher import schemas, workflow
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import (
    Appointment,
    Decision,
    DecisionShare,
    Invitation,
    Lawyer,
    LawyerTerritory,
    Request,
    Requester,
    RotationState,
)
from dispatcher.runtime import Runtime
from dispatcher.simulation.past import OPEN_PER_LAWYER, write_past
from tests.support.clients import make_token

PAST = 600


def test_past_decisions_are_written_whole_and_the_allocator_carries_on_after_them(
    small: Runtime,
) -> None:
    for code in ("CEN", "NOR"):
        make_token(small, "court", name=f"Court {code}", territory=code)
    end = utcnow()
    figures = write_past(small.engine, decisions=PAST, end=end, years=1.0, seed=3)
    assert figures.decisions == PAST
    with unit_of_work(small.engine) as session:
        assert session.exec(select(func.count()).select_from(Request)).one() == PAST
        assert session.exec(select(func.count()).select_from(Invitation)).one() == PAST
        # Every decision charged one firm, and the rotation's standing adds up to them.
        charged = session.exec(
            select(func.count()).select_from(DecisionShare).where(DecisionShare.charged == 1)
        ).one()
        assert charged == PAST
        assert session.exec(select(func.sum(RotationState.offers))).one() == PAST
        accepted = session.exec(
            select(func.count()).select_from(Invitation).where(Invitation.status == "accepted")
        ).one()
        assert session.exec(select(func.count()).select_from(Appointment)).one() == accepted
        assert 0 < accepted < PAST
        # Only the latest cases of each lawyer are still open: today's workload, not history's.
        still_open = Counter(
            session.exec(
                select(Appointment.lawyer_id).where(col(Appointment.closed_at).is_(None))
            ).all()
        )
        assert still_open and max(still_open.values()) <= OPEN_PER_LAWYER
        # Each past invitation went to a lawyer serving the decision's territory, in the past.
        served = set(session.exec(select(LawyerTerritory.lawyer_id, LawyerTerritory.territory_id)))
        for lawyer_id, territory_id, created in session.exec(
            select(Invitation.lawyer_id, Decision.territory_id, Invitation.created_at).join(
                Decision, col(Decision.id) == Invitation.decision_id
            )
        ):
            assert (lawyer_id, territory_id) in served
            assert end - timedelta(days=366) <= created <= end
        court = session.exec(select(Requester).where(Requester.name == "Court CEN")).one()
    # The service's own next decision comes after the history, under its own ids.
    body = schemas.RequestIn.model_validate(
        {
            "external_ref": "AFTER-1",
            "kind": "court_order",
            "case_number": "1(101)-1/2027",
            "territory": "CEN",
            "urgency": "standard",
            "category": "grave",
            "person": {"name": "Next Person", "language": "az"},
        }
    )
    with unit_of_work(small.engine) as session:
        request, made = workflow.create_request(
            session, body, requester=court, ctx=workflow.Context(small.policies, "test")
        )
        assert made and request.status == workflow.INVITING
    with unit_of_work(small.engine) as session:
        decision = session.exec(select(Decision).where(Decision.request_id == request.id)).one()
        assert decision.id is not None and decision.id > PAST
        assert decision.lawyer_id is not None
        assert session.get(Lawyer, decision.lawyer_id) is not None
        assert session.exec(select(func.sum(RotationState.offers))).one() == PAST + 1
