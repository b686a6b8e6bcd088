"""Requests for counsel: open, follow, cancel, explain; open a choice session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api.deps import (
    QueryTime,
    RuntimeDep,
    UnitOfWork,
    UowDep,
    bearer_or_page,
    context,
    requester_scope,
    role,
)
from api.responses import AUTH, BODY, errors
from api.schemas import ChoiceSessionOut
from api.streams import StreamPlace
from dispatcher import allocation, lanes, workflow
from dispatcher.allocation import redact
from dispatcher.db import utcnow
from dispatcher.errors import Forbidden
from dispatcher.models import Requester
from dispatcher.runtime import Runtime
from dispatcher.schemas import RequestIn, RequestOut
from dispatcher.tokens import Principal
from policies.vocabulary import RequestKind, RequestStatus, Role

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

Requesting = Annotated[Principal, Depends(role(Role.COURT, Role.INVESTIGATOR))]
READERS = (Role.COURT, Role.INVESTIGATOR, Role.ADMIN, Role.BAR)
Reading = Annotated[Principal, Depends(role(*READERS))]


# Who files which kind: a court orders counsel, an investigator asks for it on the tablet.
OWN_KIND = {
    Role.COURT: (RequestKind.COURT_ORDER, "a court sends court orders"),
    Role.INVESTIGATOR: (RequestKind.INVESTIGATION, "an investigator sends investigation requests"),
}


def require_own_kind(principal: Principal, kind: str, *, index: int | None = None) -> None:
    """403 unless `kind` is the one the requester's role files (`index`: a batch item's)."""
    wanted, refusal = OWN_KIND[Role(principal.role)]
    if kind != wanted:
        raise Forbidden(refusal if index is None else f"requests[{index}]: {refusal}")


@router.post(
    "",
    response_model=RequestOut,
    status_code=201,
    responses={
        200: {"model": RequestOut, "description": "An identical retry: the request already opened"},
        **errors(*AUTH, *BODY, 409),
    },
)
def create_request(
    body: RequestIn, principal: Requesting, runtime: RuntimeDep, uow: UowDep
) -> JSONResponse:
    require_own_kind(principal, body.kind)
    try:
        out, created = file_request(body, principal, runtime, uow)
    except lanes.Refused as refused:
        raise HTTPException(
            refused.status_code, refused.detail, headers=retry_after(refused)
        ) from None
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


def file_request(
    body: RequestIn, principal: Principal, runtime: Runtime, uow: UnitOfWork
) -> tuple[RequestOut, bool]:
    """Open a request in the requester's lane: every way of filing one goes through here.

    A request outside the requester's territories or beyond its hourly limit writes nothing
    and raises `lanes.Refused` (403, 429) once the refusal is kept for the bar's report.
    """
    ctx = context(runtime, principal)
    try:
        with uow() as session:
            requester = session.get(Requester, principal.requester_id)
            assert requester is not None
            lanes.admit(
                session,
                lanes.Filing(requester, body.territory, body.external_ref),
                policy=ctx.policy(body.territory),
                now=utcnow(),
            )
            request, created = workflow.create_request(session, body, requester=requester, ctx=ctx)
            # A new request's answer is built from what the transaction holds (no read back).
            if created:
                return workflow.opened_out(session, request), created
            return workflow.request_out(session, request), created
    except lanes.Refused as refused:
        with uow() as session:
            lanes.record_refusal(session, refused)
        log.warning(
            "request.refused",
            reason=refused.refusal.reason,
            territory=refused.refusal.territory,
            requester_id=refused.refusal.requester_id,
        )
        raise


def retry_after(refused: lanes.Refused) -> dict[str, str] | None:
    """The Retry-After header of a refusal beyond the hourly limit (None for the others)."""
    return {"Retry-After": str(refused.retry_after_s)} if refused.retry_after_s else None


@router.get("", response_model=list[RequestOut], responses=errors(*AUTH, 422))
def list_requests(
    principal: Reading,
    uow: UowDep,
    status: RequestStatus | None = None,
    before: Annotated[QueryTime | None, Query(description="Created before (ISO 8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RequestOut]:
    """Newest first; a court or investigator sees only its own requests."""
    with uow() as session:
        return workflow.list_requests(
            session,
            requester_id=requester_scope(principal),
            status=status,
            limit=limit,
            before=before,
        )


@router.get("/{request_id}", response_model=RequestOut, responses=errors(*AUTH, 404, 422))
def get_request(request_id: str, principal: Reading, uow: UowDep) -> RequestOut:
    with uow() as session:
        request = workflow.get_request(session, request_id, requester_id=requester_scope(principal))
        return workflow.request_out(session, request)


# A follower re-reads the request at least this often, whether or not it heard of a change:
# the floor when live events cannot cross processes (no Redis).
REREAD_S = 15.0


def followed_request(
    request_id: str,
    principal: Annotated[Principal, Depends(bearer_or_page)],
    uow: UowDep,
) -> Callable[[], RequestOut]:
    """Check, before any byte of the stream is sent, that the caller may follow the request."""
    if principal.role not in READERS:
        raise HTTPException(403, f"role {principal.role} may not do this")

    def read() -> RequestOut:
        with uow() as session:
            request = workflow.get_request(
                session, request_id, requester_id=requester_scope(principal)
            )
            return workflow.request_out(session, request)

    read()  # not found or not yours: 404 now
    return read


@router.get(
    "/{request_id}/events",
    response_class=EventSourceResponse,
    responses=errors(*AUTH, 404, 422, answers_json=False),
)
async def follow_request(
    request_id: str,
    read: Annotated[Callable[[], RequestOut], Depends(followed_request)],
    runtime: RuntimeDep,
    place: StreamPlace,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `event: request` with the request's JSON now and on every change.

    The stream ends once the request reaches a final state. Accepts the page session cookie.
    """
    async with runtime.broker.follow(request_id) as changes:
        current = await run_in_threadpool(read)
        sent: RequestOut | None = None
        while True:
            if current != sent:
                # Sent as a dict: the event's data stays the JSON it has always been.
                yield ServerSentEvent(event="request", data=current.model_dump(mode="json"))
                sent = current
            if current.status in workflow.FINAL_STATES:
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(changes.get(), REREAD_S)
            current = await run_in_threadpool(read)


@router.post(
    "/{request_id}/cancel", response_model=RequestOut, responses=errors(*AUTH, 404, 409, 422)
)
def cancel_request(
    request_id: str,
    principal: Annotated[Principal, Depends(role(Role.COURT, Role.INVESTIGATOR, Role.ADMIN))],
    runtime: RuntimeDep,
    uow: UowDep,
) -> RequestOut:
    with uow() as session:
        request = workflow.get_request(session, request_id, requester_id=requester_scope(principal))
        workflow.cancel(session, request, context(runtime, principal))
        return workflow.request_out(session, request)


@router.get(
    "/{request_id}/explanation",
    response_model=allocation.Explanation,
    responses=errors(*AUTH, 404, 422),
)
def explain(request_id: str, principal: Reading, uow: UowDep) -> JSONResponse:
    with uow() as session:
        request = workflow.get_request(session, request_id, requester_id=requester_scope(principal))
        explanation = workflow.explanation(session, request)
    if requester_scope(principal) is not None:
        # A court or investigator does not read other requests, conflicts or statuses.
        explanation = redact.explanation_for_requester(explanation)
    # The record goes out as it is stored (the bytes the audit chain hashed, in their order);
    # the model describes it in the OpenAPI document, and a test holds every stored kind to it.
    return JSONResponse(jsonable_encoder(explanation))


@router.post(
    "/{request_id}/choice-sessions",
    response_model=ChoiceSessionOut,
    status_code=201,
    responses=errors(*AUTH, 404, 409, 422),
)
def open_choice_session(
    request_id: str,
    principal: Annotated[Principal, Depends(role(Role.INVESTIGATOR))],
    runtime: RuntimeDep,
    uow: UowDep,
) -> ChoiceSessionOut:
    with uow() as session:
        request = workflow.get_request(session, request_id, requester_id=principal.requester_id)
        opened = workflow.open_choice_session(session, request, context(runtime, principal))
    return ChoiceSessionOut(
        token=opened.token,
        url=f"/tablet/{opened.token}",
        expires_at=opened.session.expires_at.isoformat(),
    )
