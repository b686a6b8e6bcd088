"""A lawyer's invitations and appointments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import RuntimeDep, UowDep, context, lawyer_of, role
from api.schemas import AcceptIn, ClosedAppointmentOut, DeclineIn
from dispatcher import workflow
from dispatcher.schemas import LawyerAppointmentOut, LawyerInvitationOut, RequestOut
from dispatcher.tokens import Principal
from policies.vocabulary import InvitationStatus, Role

router = APIRouter(prefix="/api/v1", tags=["lawyers"])

LawyerDep = Annotated[Principal, Depends(role(Role.LAWYER))]


@router.get("/invitations")
def my_invitations(
    principal: LawyerDep, uow: UowDep, status: InvitationStatus | None = None
) -> list[LawyerInvitationOut]:
    with uow() as session:
        return workflow.lawyer_invitations(session, lawyer_of(session, principal), status)


@router.post("/invitations/{invitation_id}/accept")
def accept(
    invitation_id: str,
    principal: LawyerDep,
    runtime: RuntimeDep,
    uow: UowDep,
    body: AcceptIn | None = None,
) -> RequestOut:
    """Accept; the body may say in how many minutes the lawyer can be there."""
    with uow() as session:
        request = workflow.accept(
            session,
            invitation_id,
            lawyer_of(session, principal),
            context(runtime, principal),
            eta_minutes=body.eta_minutes if body is not None else None,
        )
        return workflow.request_out(session, request)


@router.post("/invitations/{invitation_id}/decline")
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


@router.get("/appointments")
def my_appointments(
    principal: LawyerDep, uow: UowDep, open_only: bool = True
) -> list[LawyerAppointmentOut]:
    with uow() as session:
        return workflow.lawyer_appointments(session, lawyer_of(session, principal), open_only)


@router.post("/appointments/{appointment_id}/close")
def close(
    appointment_id: str, principal: LawyerDep, runtime: RuntimeDep, uow: UowDep
) -> ClosedAppointmentOut:
    with uow() as session:
        appointment = workflow.close_appointment(
            session, appointment_id, lawyer_of(session, principal), context(runtime, principal)
        )
        return ClosedAppointmentOut(
            id=appointment.id,
            request_id=appointment.request_id,
            closed_at=appointment.closed_at.isoformat() if appointment.closed_at else None,
        )
