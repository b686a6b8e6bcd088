"""Fairness figures for the bar, computed with SQL aggregates."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case
from sqlmodel import Session, col, func, select

from dispatcher.models import (
    Decision,
    DecisionShare,
    Firm,
    FirmTerritory,
    Invitation,
    Lawyer,
    LawyerTerritory,
    Territory,
)
from dispatcher.registry import get_territory

FAIRNESS_COLUMNS = (
    "firm",
    "weight",
    "entitlement",
    "offers",
    "accepted",
    "declined",
    "expired",
    "deviation",
)


def fairness(
    session: Session, territory: str, start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """Per firm: weight, entitlement earned, offers charged, answers, and the deviation."""
    t = get_territory(session, territory)
    window: list[ColumnElement[bool]] = [
        col(Decision.territory_id) == t.id,
        col(Decision.charged).is_(True),
    ]
    if start is not None:
        window.append(col(Decision.created_at) >= start)
    if end is not None:
        window.append(col(Decision.created_at) < end)

    weights = dict(
        session.exec(
            select(Lawyer.firm_id, func.count())
            .join(LawyerTerritory, col(LawyerTerritory.lawyer_id) == Lawyer.id)
            .where(LawyerTerritory.territory_id == t.id, Lawyer.status == "active")
            .group_by(col(Lawyer.firm_id))
        ).all()
    )
    shares = {
        firm_id: (float(ent or 0.0), int(offers or 0))
        for firm_id, ent, offers in session.exec(
            select(
                DecisionShare.firm_id,
                func.sum(DecisionShare.share),
                func.sum(DecisionShare.charged),
            )
            .join(Decision, col(Decision.id) == DecisionShare.decision_id)
            .where(*window)
            .group_by(col(DecisionShare.firm_id))
        ).all()
    }
    answers: dict[int, dict[str, int]] = {}
    for firm_id, accepted, declined, expired in session.exec(
        select(
            Invitation.firm_id,
            func.sum(case((col(Invitation.status) == "accepted", 1), else_=0)),
            func.sum(case((col(Invitation.status) == "declined", 1), else_=0)),
            func.sum(case((col(Invitation.status) == "expired", 1), else_=0)),
        )
        .join(Decision, col(Decision.id) == Invitation.decision_id)
        .where(*window)
        .group_by(col(Invitation.firm_id))
    ).all():
        answers[firm_id] = {
            "accepted": int(accepted or 0),
            "declined": int(declined or 0),
            "expired": int(expired or 0),
        }
    firm_ids = set(
        session.exec(select(FirmTerritory.firm_id).where(FirmTerritory.territory_id == t.id)).all()
    ) | set(shares)
    codes = dict(session.exec(select(Firm.id, Firm.code).where(col(Firm.id).in_(firm_ids))).all())
    rows: list[dict[str, Any]] = []
    for firm_id in sorted(firm_ids, key=lambda f: codes.get(f, "")):
        entitlement, offers = shares.get(firm_id, (0.0, 0))
        a = answers.get(firm_id, {"accepted": 0, "declined": 0, "expired": 0})
        rows.append(
            {
                "firm": codes.get(firm_id, str(firm_id)),
                "weight": int(weights.get(firm_id, 0)),
                "entitlement": round(entitlement, 4),
                "offers": offers,
                **a,
                "deviation": round(offers - entitlement, 4),
            }
        )
    decisions = session.exec(select(func.count()).select_from(Decision).where(*window)).one()
    return {
        "territory": t.code,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "decisions": int(decisions),
        "max_abs_deviation": max((abs(float(r["deviation"])) for r in rows), default=0.0),
        "firms": rows,
    }


def fairness_csv(report: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FAIRNESS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in report["firms"]:
        writer.writerow({k: row[k] for k in FAIRNESS_COLUMNS})
    return buffer.getvalue()


def territory_list(session: Session) -> list[str]:
    return list(session.exec(select(Territory.code).order_by(col(Territory.code))).all())
