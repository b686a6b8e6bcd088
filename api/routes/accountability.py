"""Audit trail and its verification (the reports live in `api.routes.reports`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from api.deps import UowDep, requester_scope, role
from api.schemas import VerifyOut
from dispatcher import audit, workflow
from dispatcher.errors import Forbidden
from dispatcher.models import AuditEvent
from dispatcher.tokens import Principal
from policies.vocabulary import Role

router = APIRouter(prefix="/api/v1", tags=["accountability"])

Bar = Annotated[Principal, Depends(role(Role.BAR, Role.ADMIN))]


@router.get("/audit")
def audit_events(
    principal: Annotated[
        Principal, Depends(role(Role.BAR, Role.ADMIN, Role.COURT, Role.INVESTIGATOR))
    ],
    uow: UowDep,
    request_id: str | None = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Events in chain order; requesters may read only the events of their own requests."""
    with uow() as session:
        scope = requester_scope(principal)
        if scope is not None:
            if request_id is None:
                raise Forbidden("a requester reads the audit of one of its requests")
            workflow.get_request(session, request_id, requester_id=scope)
        query = select(AuditEvent).where(col(AuditEvent.seq) > after)
        if request_id is not None:
            query = query.where(AuditEvent.request_id == request_id)
        rows = session.exec(query.order_by(col(AuditEvent.seq)).limit(limit)).all()
        return {
            "events": [
                {
                    "seq": e.seq,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "entity_type": e.entity_type,
                    "entity_id": e.entity_id,
                    "request_id": e.request_id,
                    "payload": json.loads(e.payload),
                    "prev_hash": e.prev_hash,
                    "hash": e.hash,
                }
                for e in rows
            ],
            "next_after": rows[-1].seq if rows else None,
        }


@router.get("/audit/verify", response_model=VerifyOut)
def verify(principal: Bar, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        return audit.verify(session).as_dict()
