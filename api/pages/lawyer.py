"""The lawyer's page: pending invitations against their deadlines, with where to go and whom
to call, and open appointments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import ValidationError
from sqlmodel import Session

from api.deps import PagePrincipal, RuntimeDep, UnitOfWork, UowDep, context, lawyer_of
from api.pages.investigator import CATEGORIES
from api.pages.rendering import N_, local_time
from api.pages.session import form_allowed, guard, render_staff, see_other, staff_language
from api.schemas import AcceptIn, DeclineIn
from dispatcher import allocation, workflow
from dispatcher.db import utcnow
from dispatcher.errors import DomainError
from dispatcher.models import Lawyer
from dispatcher.runtime import Runtime
from dispatcher.schemas import LawyerAppointmentOut, LawyerInvitationOut
from dispatcher.tokens import Principal
from policies.vocabulary import InvitationStatus, Role

router = APIRouter(prefix="/lawyer")


class ShownInvitation(LawyerInvitationOut):
    """A pending invitation as the page shows it: its deadline in the reader's words."""

    deadline_label: str


class ShownAppointment(LawyerAppointmentOut):
    """An open appointment as the page shows it: when it opened, in the reader's words."""

    opened_label: str


# What the page says after each answer (the query names one of these, nothing else is shown).
DONE = {
    InvitationStatus.ACCEPTED: N_(
        "You accepted the invitation. The case is now among your appointments."
    ),
    InvitationStatus.DECLINED: N_("You declined the invitation. The next lawyer is being invited."),
    "closed": N_("The appointment is closed."),
}
REFUSED = {
    404: N_("That invitation or appointment is not yours, or does not exist."),
    409: N_("That can no longer be done: the deadline has passed or it was already answered."),
    422: N_("Please give a reason for declining."),
}
# An acceptance's only field: the time the lawyer gives to get there.
BAD_ETA = N_("Give the time to get there as a whole number of minutes, from 1 to 1440.")
CsrfField = Annotated[str | None, Form()]


def _render(
    request: Request,
    session: Session,
    runtime: Runtime,
    principal: Principal,
    lawyer: Lawyer,
    *,
    done: str | None = None,
    refused: str | None = None,
    status_code: int = 200,
) -> Response:
    language = staff_language(request)
    timezone = runtime.policies.default.timezone
    invitations = [
        ShownInvitation(
            **invitation.model_dump(),
            deadline_label=local_time(invitation.deadline, language, timezone),
        )
        for invitation in workflow.lawyer_invitations(session, lawyer, InvitationStatus.PENDING)
    ]
    appointments = [
        ShownAppointment(
            **appointment.model_dump(),
            opened_label=local_time(appointment.opened_at, language, timezone),
        )
        for appointment in workflow.lawyer_appointments(session, lawyer, True)
    ]
    assert lawyer.id is not None
    pause = allocation.current_pause(session, lawyer_id=lawyer.id, now=utcnow())
    return render_staff(
        request,
        "lawyer/home.html",
        principal=principal,
        status_code=status_code,
        invitations=invitations,
        appointments=appointments,
        categories=CATEGORIES,
        done=DONE.get(done or ""),
        refused=refused,
        paused_until=local_time(pause.ends_at, language, timezone) if pause else None,
        paused_lapses=pause.lapses if pause else None,
        # Server-sent events cross processes only through Redis; without it the page polls.
        live_events=bool(runtime.settings.redis_url),
    )


@router.get("")
def home(
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
    done: str | None = None,
) -> Response:
    """Pending invitations with their deadlines, and open appointments."""
    who = guard(request, principal, Role.LAWYER)
    if isinstance(who, Response):
        return who
    with uow() as session:
        try:
            lawyer = lawyer_of(session, who)
        except HTTPException:
            return render_staff(request, "forbidden.html", principal=who, status_code=403)
        return _render(request, session, runtime, who, lawyer, done=done)


def _answer(
    request: Request,
    principal: Principal | None,
    runtime: Runtime,
    uow: UnitOfWork,
    csrf: str | None,
    act: Callable[[Session, Lawyer, Principal], object],
    done: str,
    invalid: str = REFUSED[422],
) -> Response:
    """Run one answer in its own unit of work; on refusal show the page with the reason
    (`invalid`: what it says when the form's input is not accepted)."""
    who = guard(request, principal, Role.LAWYER)
    if isinstance(who, Response):
        return who
    if not form_allowed(request, csrf):
        return render_staff(request, "forbidden.html", principal=who, status_code=403)
    try:
        with uow() as session:
            act(session, lawyer_of(session, who), who)
    except HTTPException:
        return render_staff(request, "forbidden.html", principal=who, status_code=403)
    except (DomainError, ValidationError) as error:
        code = error.status_code if isinstance(error, DomainError) else 422
        with uow() as session:
            return _render(
                request,
                session,
                runtime,
                who,
                lawyer_of(session, who),
                refused=invalid if code == 422 else REFUSED.get(code, REFUSED[409]),
                status_code=code,
            )
    return see_other(f"/lawyer?done={done}")


@router.post("/invitations/{invitation_id}/accept")
def accept(
    invitation_id: str,
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
    csrf: CsrfField = None,
    eta_minutes: Annotated[str, Form()] = "",
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        # The same rule as the API: an optional whole number of minutes, up to a day.
        body = AcceptIn.model_validate({"eta_minutes": eta_minutes.strip() or None})
        return workflow.accept(
            session, invitation_id, lawyer, context(runtime, who), eta_minutes=body.eta_minutes
        )

    return _answer(
        request, principal, runtime, uow, csrf, act, InvitationStatus.ACCEPTED, invalid=BAD_ETA
    )


@router.post("/invitations/{invitation_id}/decline")
def decline(
    invitation_id: str,
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
    csrf: CsrfField = None,
    reason: Annotated[str, Form()] = "",
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        body = DeclineIn(reason=reason)  # the same rule as the API: a reason is required
        return workflow.decline(session, invitation_id, lawyer, body.reason, context(runtime, who))

    return _answer(request, principal, runtime, uow, csrf, act, InvitationStatus.DECLINED)


@router.post("/appointments/{appointment_id}/close")
def close(
    appointment_id: str,
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
    csrf: CsrfField = None,
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        return workflow.close_appointment(session, appointment_id, lawyer, context(runtime, who))

    return _answer(request, principal, runtime, uow, csrf, act, "closed")
