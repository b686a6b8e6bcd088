"""A batch of requests (mass detentions): every item filed in the requester's lane, the court
orders decided together (`dispatcher.allocation.batch`)."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import RuntimeDep, UnitOfWork, UowDep, context, role
from api.responses import AUTH, BODY, errors
from api.routes.requests import require_own_kind, retry_after
from dispatcher import lanes, workflow
from dispatcher.db import utcnow
from dispatcher.errors import DomainError, Invalid
from dispatcher.models import Request, Requester
from dispatcher.runtime import Runtime
from dispatcher.schemas import RequestIn, RequestOut
from dispatcher.tokens import Principal
from policies.vocabulary import RequestKind, Role

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

Requesting = Annotated[Principal, Depends(role(Role.COURT, Role.INVESTIGATOR))]
MAX_BATCH = 500


class BatchIn(BaseModel):
    """Up to 500 requests filed at once; court orders among them are allocated together."""

    model_config = ConfigDict(extra="forbid")
    requests: Annotated[list[RequestIn], Field(min_length=1, max_length=MAX_BATCH)]


class BatchOut(BaseModel):
    """The batch's requests, in the order sent (a court order's status says whether it found
    a lawyer: `inviting`, or `unfilled` when lawyers ran out in its territory and fallbacks)."""

    requests: list[RequestOut]


@router.post(
    "/batch",
    response_model=BatchOut,
    status_code=201,
    responses={
        200: {"model": BatchOut, "description": "Every item was an identical retry"},
        **errors(*AUTH, *BODY, 409),
    },
)
def create_batch(
    body: BatchIn, principal: Requesting, runtime: RuntimeDep, uow: UowDep
) -> JSONResponse:
    """All or nothing: an item refused (403 outside the requester's territories, 429 beyond its
    hourly limit, 409 a reused reference, 422 invalid) names its index, and nothing is written."""
    for index, item in enumerate(body.requests):
        require_own_kind(principal, item.kind, index=index)
    try:
        outs, created = file_batch(body.requests, principal, runtime, uow)
    except lanes.Refused as refused:
        raise HTTPException(
            refused.status_code, refused.detail, headers=retry_after(refused)
        ) from None
    answer = BatchOut(requests=outs)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if created else 200)


def file_batch(
    items: list[RequestIn], principal: Principal, runtime: Runtime, uow: UnitOfWork
) -> tuple[list[RequestOut], bool]:
    """File every item in the requester's lane (each counts against its hourly limit), then
    decide the new court orders together; one transaction. Returns the requests and whether
    any was new."""
    ctx = context(runtime, principal)
    try:
        with uow() as session:
            requester = session.get(Requester, principal.requester_id)
            assert requester is not None
            now = utcnow()
            filed: list[Request] = []
            new_orders: list[Request] = []
            any_new = False
            for index, item in enumerate(items):
                try:
                    lanes.admit(
                        session,
                        lanes.Filing(requester, item.territory, item.external_ref),
                        policy=ctx.policy(item.territory),
                        now=now,
                    )
                    request, created = workflow.create_request(
                        session, item, requester=requester, ctx=ctx, allocate=False
                    )
                except DomainError as error:
                    raise _at(index, error) from None
                filed.append(request)
                any_new = any_new or created
                if created and request.kind == RequestKind.COURT_ORDER:
                    new_orders.append(request)
            if new_orders:
                workflow.invite_batch(session, new_orders, ctx)
            outs = [workflow.request_out(session, r) for r in filed]
    except lanes.Refused as refused:
        with uow() as session:
            lanes.record_refusal(session, refused)
        log.warning(
            "request.refused",
            reason=refused.refusal.reason,
            territory=refused.refusal.territory,
            requester_id=refused.refusal.requester_id,
            batch=len(items),
        )
        raise
    log.info("requests.batch", items=len(items), court_orders=len(new_orders))
    return outs, any_new


def _at(index: int, error: DomainError) -> DomainError:
    """The item's error, naming its index: a field's `loc` gains it, a message is prefixed."""
    if isinstance(error, Invalid):
        error.detail = [
            {**entry, "loc": ["body", "requests", index, *entry["loc"][1:]]}
            for entry in error.detail
        ]
        return error
    error.detail = f"requests[{index}]: {error.detail}"
    if isinstance(error, lanes.Refused):
        error.args = (error.detail,)
    return error
