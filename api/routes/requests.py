"""Requests for counsel: open, follow, cancel, explain; open a choice session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from api.deps import RuntimeDep, UowDep, context, requester_scope, role
from api.schemas import ChoiceSessionOut, RequestOut
from dispatcher import workflow
from dispatcher.errors import Forbidden
from dispatcher.models import Requester
from dispatcher.tokens import Principal

router = APIRouter(prefix="/api/v1/requests", tags=["requests"])

Requesting = Annotated[Principal, Depends(role("court", "investigator"))]
Reading = Annotated[Principal, Depends(role("court", "investigator", "admin", "bar"))]


@router.post(
    "",
    response_model=RequestOut,
    status_code=201,
    responses={200: {"description": "An identical retry: the request already opened"}},
)
def create_request(
    body: workflow.RequestIn, principal: Requesting, runtime: RuntimeDep, uow: UowDep
) -> JSONResponse:
    if principal.role == "court" and body.kind != "court_order":
        raise Forbidden("a court sends court orders")
    if principal.role == "investigator" and body.kind != "investigation":
        raise Forbidden("an investigator sends investigation requests")
    with uow() as session:
        requester = session.get(Requester, principal.requester_id)
        assert requester is not None
        request, created = workflow.create_request(
            session, body, requester=requester, ctx=context(runtime, principal)
        )
        out = workflow.request_out(session, request)
    return JSONResponse(out, status_code=201 if created else 200)


@router.get("", response_model=list[RequestOut])
def list_requests(
    principal: Reading,
    uow: UowDep,
    status: Literal[
        "awaiting_choice", "inviting", "assigned", "unfilled", "cancelled", "private_counsel"
    ]
    | None = None,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Newest first; a court or investigator sees only its own requests."""
    with uow() as session:
        return workflow.list_requests(
            session,
            requester_id=requester_scope(principal),
            status=status,
            limit=limit,
            before=before if before is None or before.tzinfo else before.replace(tzinfo=UTC),
        )


@router.get("/{request_id}", response_model=RequestOut)
def get_request(request_id: str, principal: Reading, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        request = workflow.get_request(session, request_id, requester_id=requester_scope(principal))
        return workflow.request_out(session, request)


@router.post("/{request_id}/cancel", response_model=RequestOut)
def cancel_request(
    request_id: str,
    principal: Annotated[Principal, Depends(role("court", "investigator", "admin"))],
    runtime: RuntimeDep,
    uow: UowDep,
) -> dict[str, Any]:
    with uow() as session:
        request = workflow.get_request(session, request_id, requester_id=requester_scope(principal))
        workflow.cancel(session, request, context(runtime, principal))
        return workflow.request_out(session, request)


@router.get("/{request_id}/explanation")
def explain(request_id: str, principal: Reading, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        request = workflow.get_request(session, request_id, requester_id=requester_scope(principal))
        return workflow.explanation(session, request)


@router.post("/{request_id}/choice-sessions", response_model=ChoiceSessionOut, status_code=201)
def open_choice_session(
    request_id: str,
    principal: Annotated[Principal, Depends(role("investigator"))],
    runtime: RuntimeDep,
    uow: UowDep,
) -> dict[str, Any]:
    with uow() as session:
        request = workflow.get_request(session, request_id, requester_id=principal.requester_id)
        opened = workflow.open_choice_session(session, request, context(runtime, principal))
    return {
        "token": opened.token,
        "url": f"/tablet/{opened.token}",
        "expires_at": opened.session.expires_at.isoformat(),
    }
