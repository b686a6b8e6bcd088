"""The lawyer's page: pending invitations against their deadlines, with where to go and whom
to call, open appointments; coming duties (offered to a colleague, or taken over from one), the
lawyer's own availability for the next rotas, and the duties' calendar feed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from api.deps import PagePrincipal, RuntimeDep, UnitOfWork, UowDep, context, lawyer_of
from api.pages.investigator import CATEGORIES
from api.pages.rendering import N_, gettext, local_time, pick_language
from api.pages.session import form_allowed, guard, render_staff, see_other, staff_language
from api.schemas import AcceptIn, DeclineIn
from dispatcher import allocation, workflow
from dispatcher.db import utcnow
from dispatcher.errors import DomainError, Invalid
from dispatcher.models import Lawyer, Territory
from dispatcher.rota import availability, calendar, swap
from dispatcher.runtime import Runtime
from dispatcher.schemas import LawyerAppointmentOut, LawyerInvitationOut
from dispatcher.tokens import Principal
from policies.vocabulary import AvailabilityKind, InvitationStatus, Role, SwapProblem

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
    "offered": N_("Your duty is offered. It stays yours until your colleague accepts."),
    "withdrawn": N_("You took the offer back. The duty stays yours."),
    "swap_accepted": N_("The duty is now yours. It is in your duties and your calendar."),
    "swap_declined": N_("You declined the offered duty."),
    "swap_refused": N_("The duty could not pass to you: the rota's rules would not hold."),
    "leave": N_("Your leave is recorded. The next rotas will not put you on duty then."),
    "leave_removed": N_("The leave is removed."),
    "availability": N_("Your choice is recorded. The next rotas respect it."),
}
# Why a duty could not pass to a colleague (the query names one of these, nothing else).
SWAP_PROBLEMS = {
    SwapProblem.NOT_APPROVED: N_("The duty is no longer part of an approved rota in your name."),
    SwapProblem.PAST: N_("The duty has already begun."),
    SwapProblem.TERRITORY: N_("You do not serve the duty's territory."),
    SwapProblem.AVAILABILITY: N_("Your own leave or opt-outs cover that time."),
    SwapProblem.OVERLAP: N_("You are on duty at that time already."),
    SwapProblem.REST: N_("You would not have the rest required between duties."),
    SwapProblem.WEEKLY_CAP: N_("You would have more duties that week than the rota allows."),
    SwapProblem.LANGUAGE: N_("The night would be left without a speaker of a required language."),
    SwapProblem.JUVENILE: N_("The slot would be left without a juvenile specialist."),
}
CLASHES = {
    AvailabilityKind.LEAVE: N_("On your leave"),
    AvailabilityKind.NO_NIGHTS: N_("A night duty"),
    AvailabilityKind.NO_WEEKENDS: N_("A weekend duty"),
}
BAD_LEAVE = N_("Give the first and last day of the leave; the last may not come before the first.")
# The calendar feed's name and its events' title.
FEED_NAME = N_("Duties")
FEED_SUMMARY = N_("On duty: %(territory)s")
BAD_COLLEAGUE = N_("Choose a colleague who serves the duty's territory and is free then.")
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
    problem: str | None = None,
    refused: str | None = None,
    feed_url: str | None = None,
    status_code: int = 200,
) -> Response:
    language = staff_language(request)
    timezone = runtime.policies.default.timezone
    now = utcnow()
    duties = availability.coming_duties(session, lawyer=lawyer, policies=runtime.policies, now=now)
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
        problem=SWAP_PROBLEMS.get(SwapProblem(problem)) if problem in set(SwapProblem) else None,
        refused=refused,
        duties=duties,
        colleagues={
            d.assignment_id: swap.colleagues(
                session, lawyer=lawyer, assignment_id=d.assignment_id, policies=runtime.policies
            )
            for d in duties
            if d.offered_to is None and d.start > now
        },
        clashes=CLASHES,
        offers_to_me=swap.open_offers(
            session, lawyer=lawyer, policies=runtime.policies, to_me=True
        ),
        my_offers={
            o.assignment_id: o
            for o in swap.open_offers(
                session, lawyer=lawyer, policies=runtime.policies, to_me=False
            )
        },
        availability=availability.read(session, lawyer=lawyer, timezone=timezone),
        has_feed=calendar.has_link(session, lawyer=lawyer),
        feed_url=feed_url,
        when=lambda moment: local_time(moment, language, timezone),
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
    problem: str | None = None,
) -> Response:
    """Pending invitations with their deadlines, open appointments, duties and availability."""
    who = guard(request, principal, Role.LAWYER)
    if isinstance(who, Response):
        return who
    with uow() as session:
        try:
            lawyer = lawyer_of(session, who)
        except HTTPException:
            return render_staff(request, "forbidden.html", principal=who, status_code=403)
        return _render(request, session, runtime, who, lawyer, done=done, problem=problem)


@dataclass(frozen=True)
class LawyerForm:
    """What every form of the lawyer's page arrives with: the reader, the service, a unit of
    work and the form's token. `answer` runs the form's one change."""

    request: Request
    principal: Principal | None
    runtime: Runtime
    uow: UnitOfWork
    csrf: str | None

    def answer(
        self,
        act: Callable[[Session, Lawyer, Principal], object],
        done: str | Callable[[object], str],
        invalid: str = REFUSED[422],
    ) -> Response:
        """Run one answer in its own unit of work; on refusal show the page with the reason
        (`invalid`: what it says when the form's input is not accepted)."""
        request, runtime, uow = self.request, self.runtime, self.uow
        who = self.lawyer()
        if isinstance(who, Response):
            return who
        try:
            with uow() as session:
                result = act(session, lawyer_of(session, who), who)
                then = done(result) if callable(done) else f"done={done}"
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
        return see_other(f"/lawyer?{then}")

    def lawyer(self) -> Principal | Response:
        """The signed-in lawyer posting from this site; else sign-in or the 403 page."""
        who = guard(self.request, self.principal, Role.LAWYER)
        if isinstance(who, Response):
            return who
        if not form_allowed(self.request, self.csrf):
            return render_staff(self.request, "forbidden.html", principal=who, status_code=403)
        return who


def lawyer_form(
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
    csrf: CsrfField = None,
) -> LawyerForm:
    """The form's arrivals, resolved once for every form route of the page."""
    return LawyerForm(request, principal, runtime, uow, csrf)


FormDep = Annotated[LawyerForm, Depends(lawyer_form)]


@router.post("/invitations/{invitation_id}/accept")
def accept(
    invitation_id: str,
    form: FormDep,
    eta_minutes: Annotated[str, Form()] = "",
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        # The same rule as the API: an optional whole number of minutes, up to a day.
        body = AcceptIn.model_validate({"eta_minutes": eta_minutes.strip() or None})
        return workflow.accept(
            session, invitation_id, lawyer, context(form.runtime, who), eta_minutes=body.eta_minutes
        )

    return form.answer(act, InvitationStatus.ACCEPTED, invalid=BAD_ETA)


@router.post("/invitations/{invitation_id}/decline")
def decline(
    invitation_id: str,
    form: FormDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        body = DeclineIn(reason=reason)  # the same rule as the API: a reason is required
        return workflow.decline(
            session, invitation_id, lawyer, body.reason, context(form.runtime, who)
        )

    return form.answer(act, InvitationStatus.DECLINED)


@router.post("/appointments/{appointment_id}/close")
def close(
    appointment_id: str,
    form: FormDep,
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        return workflow.close_appointment(
            session, appointment_id, lawyer, context(form.runtime, who)
        )

    return form.answer(act, "closed")


# --- duties, swaps, availability, the calendar feed --------------------------------------


@router.post("/duties/{assignment_id}/offer")
def offer_duty(
    assignment_id: int,
    form: FormDep,
    colleague: Annotated[str, Form()] = "",
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        return swap.offer(
            session,
            lawyer=lawyer,
            assignment_id=assignment_id,
            colleague=colleague,
            policies=form.runtime.policies,
            now=utcnow(),
            actor=who.actor,
        )

    return form.answer(act, "offered", invalid=BAD_COLLEAGUE)


def _swap_answer(form: LawyerForm, swap_id: str, accept: bool) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        return swap.answer(
            session,
            lawyer=lawyer,
            swap_id=swap_id,
            accept=accept,
            policies=form.runtime.policies,
            now=utcnow(),
            actor=who.actor,
        )

    def then(result: object) -> str:
        problem = getattr(result, "problem", None)
        if problem:
            return f"done=swap_refused&problem={problem}"
        return "done=swap_accepted" if accept else "done=swap_declined"

    return form.answer(act, then)


@router.post("/swaps/{swap_id}/accept")
def accept_swap(
    swap_id: str,
    form: FormDep,
) -> Response:
    return _swap_answer(form, swap_id, True)


@router.post("/swaps/{swap_id}/decline")
def decline_swap(
    swap_id: str,
    form: FormDep,
) -> Response:
    return _swap_answer(form, swap_id, False)


@router.post("/swaps/{swap_id}/withdraw")
def withdraw_swap(
    swap_id: str,
    form: FormDep,
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        swap.withdraw(session, lawyer=lawyer, swap_id=swap_id, now=utcnow(), actor=who.actor)
        return None

    return form.answer(act, "withdrawn")


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(field, "a date (YYYY-MM-DD) is needed") from None


@router.post("/leave")
def add_leave(
    form: FormDep,
    first: Annotated[str, Form()] = "",
    last: Annotated[str, Form()] = "",
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        return availability.add_leave(
            session,
            lawyer=lawyer,
            first=_day(first, "first"),
            last=_day(last or first, "last"),
            timezone=form.runtime.policies.default.timezone,
            actor=who.actor,
        )

    return form.answer(act, "leave", invalid=BAD_LEAVE)


@router.post("/leave/{leave_id}/remove")
def remove_leave(
    leave_id: int,
    form: FormDep,
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        availability.remove_leave(session, lawyer=lawyer, leave_id=leave_id, actor=who.actor)
        return None

    return form.answer(act, "leave_removed")


@router.post("/availability")
def set_availability(
    form: FormDep,
    no_nights: Annotated[str, Form()] = "",
    no_weekends: Annotated[str, Form()] = "",
) -> Response:
    def act(session: Session, lawyer: Lawyer, who: Principal) -> object:
        availability.set_opt_outs(
            session,
            lawyer=lawyer,
            no_nights=bool(no_nights),
            no_weekends=bool(no_weekends),
            actor=who.actor,
        )
        return None

    return form.answer(act, "availability")


@router.post("/calendar")
def new_calendar_link(form: FormDep) -> Response:
    """A new calendar link (the old one stops working), shown once: only its hash is kept."""
    request, runtime, uow = form.request, form.runtime, form.uow
    who = form.lawyer()
    if isinstance(who, Response):
        return who
    with uow() as session:
        try:
            lawyer = lawyer_of(session, who)
        except HTTPException:
            return render_staff(request, "forbidden.html", principal=who, status_code=403)
        token = calendar.new_link(session, lawyer=lawyer, now=utcnow(), actor=who.actor)
    language = staff_language(request)
    url = str(request.base_url).rstrip("/") + f"/lawyer/calendar/{token}.ics?lang={language}"
    with uow() as session:
        return _render(request, session, runtime, who, lawyer_of(session, who), feed_url=url)


@router.get("/calendar/{token}.ics")
def calendar_feed(
    token: str, uow: UowDep, runtime: RuntimeDep, lang: str | None = None
) -> Response:
    """The lawyer's duties as iCalendar, for calendar programs: the link's token is the only
    credential (no sign-in); an unknown or revoked one is 404."""
    language = pick_language(lang)
    with uow() as session:
        lawyer = calendar.owner(session, token)
        if lawyer is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        names = {
            t.code: str(getattr(t, f"name_{language}"))
            for t in session.execute(select(Territory)).scalars()
        }
        body = calendar.feed(
            session,
            lawyer=lawyer,
            policies=runtime.policies,
            summary=lambda code: (
                gettext(language, FEED_SUMMARY) % {"territory": names.get(code, code)}
            ),
            calendar_name=gettext(language, FEED_NAME),
            now=utcnow(),
        )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
