"""Audit trail and its verification (the reports live in `api.routes.reports`)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, JsonValue

from api.deps import UowDep, requester_scope, role
from api.responses import AUTH, errors
from api.schemas import VerifyOut
from dispatcher import audit, workflow
from dispatcher.allocation import redact
from dispatcher.audit import StoredEvent
from dispatcher.errors import Forbidden
from dispatcher.tokens import Principal
from policies.vocabulary import Role

router = APIRouter(prefix="/api/v1", tags=["accountability"])

Bar = Annotated[Principal, Depends(role(Role.BAR, Role.ADMIN))]
# The largest sequence number the chain's column holds (`audit_event.seq`, a signed 32-bit
# INTEGER on PostgreSQL).
SEQ_MAX = 2**31 - 1
Reader = Annotated[Principal, Depends(role(Role.BAR, Role.ADMIN, Role.COURT, Role.INVESTIGATOR))]


class AuditEventOut(BaseModel):
    """One link of the chain: its hash covers every other field and the previous hash."""

    seq: int
    at: str = Field(description="When it was recorded (ISO 8601)")
    actor: str
    action: str
    entity_type: str
    entity_id: str
    request_id: str | None
    payload: dict[str, JsonValue]
    prev_hash: str
    hash: str
    damaged: str | None = Field(
        default=None,
        description="Set when a stored value no longer parses: the row was altered "
        "(`at` is then the text as stored, `payload` empty; verification reports it)",
    )
    redacted: bool = Field(
        False,
        description="The payload as a court or investigator reads it: other requests, "
        "conflicts and statuses withheld (the hash covers the whole payload the bar reads)",
    )

    @classmethod
    def of(cls, event: StoredEvent, own_requests: Collection[str] | None = None) -> AuditEventOut:
        """The event; with `own_requests` (a requester's), its payload redacted."""
        payload = event.payload
        shown = (
            payload
            if own_requests is None
            else redact.audit_payload_for_requester(payload, own_requests)
        )
        return cls(
            seq=event.seq,
            at=event.at.isoformat() if event.at is not None else event.stored_at,
            actor=event.actor,
            action=event.action,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            request_id=event.request_id,
            payload=shown,
            prev_hash=event.prev_hash,
            hash=event.hash,
            damaged=event.damaged,
            redacted=shown != payload,
        )


class AuditPage(BaseModel):
    events: list[AuditEventOut]
    next_after: int | None = Field(description="`after` for the next page (null: none left)")


@router.get("/audit", response_model=AuditPage, responses=errors(*AUTH, 404, 422))
def audit_events(
    principal: Reader,
    uow: UowDep,
    request_id: str | None = None,
    after: Annotated[
        int, Query(ge=0, le=SEQ_MAX, description="Sequence number after which to start")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AuditPage:
    """Events in chain order; requesters may read only the events of their own requests."""
    with uow() as session:
        scope = requester_scope(principal)
        if scope is not None:
            if request_id is None:
                raise Forbidden("a requester reads the audit of one of its requests")
            workflow.get_request(session, request_id, requester_id=scope)
        rows = audit.trail(session, request_id=request_id, after=after, limit=limit)
        own: set[str] | None = None
        if scope is not None:
            named = redact.mentioned_requests([e.payload for e in rows])
            own = redact.own_requests(session, scope, named)
        return AuditPage(
            events=[AuditEventOut.of(e, own) for e in rows],
            next_after=rows[-1].seq if rows else None,
        )


@router.get("/audit/verify", response_model=VerifyOut, responses=errors(*AUTH))
def verify(principal: Bar, uow: UowDep) -> VerifyOut:
    """The chain walked end to end: whether it holds, and the first event that does not."""
    with uow() as session:
        return VerifyOut.model_validate(audit.verify(session).as_dict())
