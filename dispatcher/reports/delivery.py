"""What the bar's report says of the service's own failures to pass things on: callbacks that
never reached their court, and choice sessions re-opened (each re-open shows the suspect a new
list; the policy bounds them per request)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, func

from dispatcher.models import AuditEvent, ChoiceSession, Request, Requester
from dispatcher.registry import get_territory
from dispatcher.reports.queries import period
from dispatcher.reports.rows import CallbackAlert, ReopenFigures

CALLBACK_FAILED = "callback.failed"


def failed_callbacks(
    session: Session,
    *,
    territory: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[CallbackAlert]:
    """Per requester, the callbacks given up in [start, end) (`outbox`: after the policy's
    `callback_attempts`, or refused at once), the most first."""
    query = (
        sa_select(
            col(Requester.name), col(Requester.role), col(AuditEvent.at), col(AuditEvent.payload)
        )
        .join(Request, col(Request.id) == AuditEvent.request_id)
        .join(Requester, col(Requester.id) == Request.requester_id)
        .where(col(AuditEvent.action) == CALLBACK_FAILED, *period(col(AuditEvent.at), start, end))
        .order_by(col(AuditEvent.seq))
    )
    if territory is not None:
        query = query.where(col(Request.territory_id) == get_territory(session, territory).id)
    found: dict[tuple[str, str], CallbackAlert] = {}
    for name, role, at, payload in session.execute(query).all():
        facts = json.loads(payload)
        alert = found.setdefault(
            (name, role),
            {
                "requester": name,
                "role": role,
                "failed": 0,
                "refused": 0,
                "last_at": "",
                "last_error": "",
            },
        )
        alert["failed"] += 1
        alert["refused"] += 1 if facts.get("refused") else 0
        alert["last_at"] = at.isoformat()
        alert["last_error"] = str(facts.get("error", ""))[:200]
    return sorted(found.values(), key=lambda a: (-a["failed"], a["requester"], a["role"]))


def reopened_sessions(
    session: Session,
    *,
    territory: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[ReopenFigures]:
    """Per requester, the choice sessions re-opened for requests made in [start, end)."""
    per_request = (
        sa_select(col(Requester.name), col(Requester.role), func.count())
        .select_from(ChoiceSession)
        .join(Request, col(Request.id) == ChoiceSession.request_id)
        .join(Requester, col(Requester.id) == Request.requester_id)
        .where(*period(col(Request.created_at), start, end))
        .group_by(col(ChoiceSession.request_id), col(Requester.name), col(Requester.role))
        .having(func.count() > 1)
    )
    if territory is not None:
        per_request = per_request.where(
            col(Request.territory_id) == get_territory(session, territory).id
        )
    totals: dict[tuple[str, str], list[int]] = defaultdict(list)
    for name, role, sessions in session.execute(per_request).all():
        totals[(name, role)].append(int(sessions) - 1)
    rows: list[ReopenFigures] = [
        {"requester": name, "role": role, "requests": len(n), "reopens": sum(n), "most": max(n)}
        for (name, role), n in totals.items()
    ]
    return sorted(rows, key=lambda r: (-r["reopens"], r["requester"], r["role"]))
