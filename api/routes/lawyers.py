"""A lawyer's invitations and appointments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep, UowDep, bearer_or_page, context, lawyer_of, role
from api.responses import AUTH, BODY, errors
from api.schemas import AcceptIn, ClosedAppointmentOut, DeclineIn
from api.streams import StreamPlace
from dispatcher import events, workflow
from dispatcher.models import Lawyer
from dispatcher.schemas import LawyerAppointmentOut, LawyerInvitationOut, RequestOut
from dispatcher.tokens import Principal
from policies.vocabulary import InvitationStatus, Role

router = APIRouter(prefix="/api/v1", tags=["lawyers"])

LawyerDep = Annotated[Principal, Depends(role(Role.LAWYER))]


@router.get("/invitations", responses=errors(*AUTH, 422))
def my_invitations(
    principal: LawyerDep, uow: UowDep, status: InvitationStatus | None = None
) -> list[LawyerInvitationOut]:
    with uow() as session:
        return workflow.lawyer_invitations(session, lawyer_of(session, principal), status)


class PendingOut(BaseModel):
    """The ids of a lawyer's pending invitations, newest first: a page compares them."""

    pending: list[str]


# The stream re-reads the lawyer's invitations at least this often, whether or not it heard
# of a change (an expiry or a withdrawal is not announced on the lawyer's channel).
PENDING_REREAD_S = 15.0


def followed_lawyer(
    principal: Annotated[Principal, Depends(bearer_or_page)], uow: UowDep
) -> tuple[int, Callable[[], PendingOut]]:
    """Check, before any byte of the stream is sent, that the caller is a lawyer."""
    if principal.role != Role.LAWYER:
        raise HTTPException(403, f"role {principal.role} may not do this")
    with uow() as session:
        lawyer = lawyer_of(session, principal)
    lawyer_id = lawyer.id
    assert lawyer_id is not None

    def read() -> PendingOut:
        with uow() as session:
            mine = session.get(Lawyer, lawyer_id)
            assert mine is not None
            found = workflow.lawyer_invitations(session, mine, InvitationStatus.PENDING)
            return PendingOut(pending=[invitation.id for invitation in found])

    return lawyer_id, read


@router.get(
    "/invitations/events",
    response_class=EventSourceResponse,
    responses=errors(*AUTH, answers_json=False),
)
async def follow_invitations(
    followed: Annotated[tuple[int, Callable[[], PendingOut]], Depends(followed_lawyer)],
    runtime: RuntimeDep,
    place: StreamPlace,
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `event: invitations` with the ids of the caller's pending
    invitations, now and whenever they change. Accepts the page session cookie."""
    lawyer_id, read = followed
    async with runtime.broker.follow(events.lawyer_channel(lawyer_id)) as changes:
        sent: PendingOut | None = None
        while True:
            current = await run_in_threadpool(read)
            if current != sent:
                yield ServerSentEvent(event="invitations", data=current.model_dump(mode="json"))
                sent = current
            with suppress(TimeoutError):
                await asyncio.wait_for(changes.get(), PENDING_REREAD_S)


# The routes every order passes through answer with the JSON they build: FastAPI checks and
# serialises a returned model on a worker thread of its own, one more thread hop a request.
@router.post(
    "/invitations/{invitation_id}/accept",
    response_model=RequestOut,
    responses=errors(*AUTH, *BODY, 404, 409),
)
def accept(
    invitation_id: str,
    principal: LawyerDep,
    runtime: RuntimeDep,
    uow: UowDep,
    body: AcceptIn | None = None,
) -> JSONResponse:
    """Accept; the body may say in how many minutes the lawyer can be there."""
    with uow() as session:
        request = workflow.accept(
            session,
            invitation_id,
            lawyer_of(session, principal),
            context(runtime, principal),
            eta_minutes=body.eta_minutes if body is not None else None,
        )
        out = workflow.request_out(session, request)
    return JSONResponse(out.model_dump(mode="json"))


@router.post("/invitations/{invitation_id}/decline", responses=errors(*AUTH, *BODY, 404, 409))
def decline(
    invitation_id: str, body: DeclineIn, principal: LawyerDep, runtime: RuntimeDep, uow: UowDep
) -> RequestOut:
    with uow() as session:
        request = workflow.decline(
            session,
            invitation_id,
            lawyer_of(session, principal),
            body.reason,
            context(runtime, principal),
        )
        return workflow.request_out(session, request)


@router.get("/appointments", responses=errors(*AUTH, 422))
def my_appointments(
    principal: LawyerDep, uow: UowDep, open_only: bool = True
) -> list[LawyerAppointmentOut]:
    with uow() as session:
        return workflow.lawyer_appointments(session, lawyer_of(session, principal), open_only)


@router.post(
    "/appointments/{appointment_id}/close",
    response_model=ClosedAppointmentOut,
    responses=errors(*AUTH, 404, 409, 422),
)
def close(
    appointment_id: str, principal: LawyerDep, runtime: RuntimeDep, uow: UowDep
) -> JSONResponse:
    with uow() as session:
        appointment = workflow.close_appointment(
            session, appointment_id, lawyer_of(session, principal), context(runtime, principal)
        )
        out = ClosedAppointmentOut(
            id=appointment.id,
            request_id=appointment.request_id,
            closed_at=appointment.closed_at.isoformat() if appointment.closed_at else None,
        )
    return JSONResponse(out.model_dump(mode="json"))
