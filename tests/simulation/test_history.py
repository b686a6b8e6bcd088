"""`fill_history`: a period of real history for the bar's reports, steered investigator included."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from dispatcher import audit
from dispatcher.config import Settings
from dispatcher.db import make_engine, unit_of_work
from dispatcher.models import (
    Appointment,
    Choice,
    Decision,
    Invitation,
    Lawyer,
    Request,
    Requester,
)
from dispatcher.simulation import fill_history

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
STEERED = ("Investigator BAK-SBN 2", "A-0119")


def lawyers(options: Sequence[dict[str, Any]]) -> list[str]:
    return [str(o["lawyer"]) for o in options]


def test_fill_history_leaves_a_verifiable_history_with_position_bias_and_a_pocket_lawyer(
    settings: Settings,
) -> None:
    summary = fill_history(settings.database_url, days=3, seed=11, steer=STEERED, start=START)
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as session:
            requests = session.exec(select(Request)).all()
            assert summary["requests"] == len(requests) > 50
            assert all(r.created_at >= START for r in requests)
            assert set(summary["by_status"]) >= {"assigned"}
            appointments = session.exec(select(Appointment)).all()
            assert len(appointments) == summary["by_status"]["assigned"]
            assert session.exec(select(Decision)).first() is not None
            assert session.exec(select(Invitation)).first() is not None
            choices = session.exec(select(Choice).where(Choice.kind == "lawyer")).all()
            positions = Counter(c.position for c in choices)
            # Suspects who choose by position make the first place the most chosen.
            assert positions[1] == max(positions.values())
            verified = audit.verify(session)
            assert verified.ok and verified.events > len(requests)
            steered = session.exec(
                select(Choice.options, Lawyer.licence)
                .join(Request, col(Request.id) == Choice.request_id)
                .join(Requester, col(Requester.id) == Request.requester_id)
                .outerjoin(Lawyer, col(Lawyer.id) == Choice.lawyer_id)
                .where(Requester.name == STEERED[0])
            ).all()
            shown = [chosen for options, chosen in steered if STEERED[1] in lawyers(options)]
            assert shown, "the steered lawyer never appeared on the investigator's lists"
            assert shown == [STEERED[1]] * len(shown)
    finally:
        engine.dispose()
