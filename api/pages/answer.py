"""The answer link's page: one invitation, answered without signing in.

The lawyer's notification carries one link, `/answer/{token}`; the token is the credential
(random, stored only as its SHA-256 on the invitation) and it dies with the invitation: once
the invitation is answered, withdrawn, expired or undeliverable, the page shows the outcome and
answers nothing. The path's token is never logged (the log carries the route template).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from pydantic import ValidationError
from sqlmodel import Session, select

from api.deps import RuntimeDep, UnitOfWork, UowDep, context
from api.pages.investigator import CATEGORIES
from api.pages.lawyer import ShownInvitation
from api.pages.rendering import N_, local_time, pick_language, render
from api.pages.session import same_origin, see_other
from api.schemas import AcceptIn
from dispatcher import workflow
from dispatcher.db import utcnow
from dispatcher.errors import DomainError
from dispatcher.models import Invitation, Lawyer
from dispatcher.runtime import Runtime
from dispatcher.tokens import hash_token
from policies.vocabulary import InvitationStatus

router = APIRouter(prefix="/answer", include_in_schema=False)

# The reasons a lawyer may pick when declining: the word stored with the decline, and what the
# page says for it.
DECLINE_REASONS: dict[str, str] = {
    "busy": N_("Busy with another case"),
    "conflict of interest": N_("Conflict of interest"),
    "too far": N_("Too far away"),
    "ill": N_("Ill"),
    "other": N_("Another reason"),
}
# What the page says once the link can answer no more: the invitation's outcome.
OUTCOMES: dict[str, str] = {
    InvitationStatus.ACCEPTED: N_(
        "You accepted the invitation. The case is now among your appointments."
    ),
    InvitationStatus.DECLINED: N_("You declined the invitation. The next lawyer is being invited."),
    "closed": N_("This invitation is no longer open: it was withdrawn, or its deadline passed."),
}
BAD_ETA = N_("Give the time to get there as a whole number of minutes, from 1 to 1440.")
BAD_REASON = N_("Pick a reason for declining.")
# The link's own actor in the audit: the lawyer, through the link rather than a signed-in page.
ACTOR = "lawyer-link:{licence}"


def _find(session: Session, token: str) -> tuple[Invitation, Lawyer] | None:
    invitation = session.exec(
        select(Invitation).where(Invitation.answer_token_hash == hash_token(token))
    ).first()
    lawyer = session.get(Lawyer, invitation.lawyer_id) if invitation is not None else None
    return None if invitation is None or lawyer is None else (invitation, lawyer)


def _outcome(invitation: Invitation) -> str | None:
    """None while the link can still answer; else the key of what the page says."""
    if invitation.status == InvitationStatus.PENDING and invitation.deadline > utcnow():
        return None
    if invitation.status in (InvitationStatus.ACCEPTED, InvitationStatus.DECLINED):
        return invitation.status
    return "closed"


def _language(request: Request, lawyer: Lawyer) -> str:
    """?lang= when the reader switched, else the lawyer's first language the pages speak."""
    return pick_language(
        request.query_params.get("lang"),
        *(code for code in lawyer.languages if pick_language(code) == code),
    )


def _page(
    request: Request,
    session: Session,
    runtime: Runtime,
    token: str,
    invitation: Invitation,
    lawyer: Lawyer,
    *,
    refused: str | None = None,
    status_code: int = 200,
) -> Response:
    language = _language(request, lawyer)
    outcome = _outcome(invitation)
    shown = next(
        (
            ShownInvitation(
                **found.model_dump(),
                deadline_label=local_time(
                    found.deadline, language, runtime.policies.default.timezone
                ),
            )
            for found in workflow.lawyer_invitations(session, lawyer, None)
            if found.id == invitation.id
        ),
        None,
    )
    return render(
        request,
        "answer/page.html",
        language=language,
        status_code=status_code,
        inv=shown,
        token=token,
        outcome=OUTCOMES.get(outcome) if outcome else None,
        accepted=outcome == InvitationStatus.ACCEPTED,
        categories=CATEGORIES,
        reasons=DECLINE_REASONS,
        refused=refused,
        countdown=outcome is None,
        query=f"?lang={language}",
    )


def _not_found(request: Request) -> Response:
    language = pick_language(request.query_params.get("lang"))
    return render(request, "answer/unknown.html", language=language, status_code=404)


def _show(
    request: Request,
    runtime: Runtime,
    uow: UnitOfWork,
    token: str,
    *,
    refused: str | None = None,
    status_code: int = 200,
) -> Response:
    with uow() as session:
        found = _find(session, token)
        if found is None:
            return _not_found(request)
        return _page(
            request, session, runtime, token, *found, refused=refused, status_code=status_code
        )


@router.get("/{token}")
def show(token: str, request: Request, runtime: RuntimeDep, uow: UowDep) -> Response:
    """The invitation's facts with Accept and Decline, or its outcome once it is over."""
    return _show(request, runtime, uow, token)


def _answer(
    token: str, request: Request, runtime: Runtime, uow: UnitOfWork, act: str, value: str
) -> Response:
    """Accept or decline in one unit of work, then show the outcome (POST, redirect, GET).

    A dead link answers 410 with the outcome; bad input 422 with the form and the reason.
    """
    if not same_origin(request):
        # The token in the path is the credential: no session, so no form token either.
        language = pick_language(request.query_params.get("lang"))
        return render(request, "answer/refused.html", language=language, status_code=403)
    refused: str | None = None
    try:
        with uow() as session:
            found = _find(session, token)
            if found is None:
                return _not_found(request)
            invitation, lawyer = found
            if _outcome(invitation) is not None:
                return _page(request, session, runtime, token, invitation, lawyer, status_code=410)
            ctx = context(runtime, None, ACTOR.format(licence=lawyer.licence))
            language = _language(request, lawyer)
            if act == "accept":
                # The same rule as the API: an optional whole number of minutes, up to a day.
                try:
                    body = AcceptIn.model_validate({"eta_minutes": value.strip() or None})
                except ValidationError:
                    refused = BAD_ETA
                else:
                    workflow.accept(
                        session, invitation.id, lawyer, ctx, eta_minutes=body.eta_minutes
                    )
            elif value in DECLINE_REASONS:
                workflow.decline(session, invitation.id, lawyer, value, ctx)
            else:
                refused = BAD_REASON
    except DomainError:
        # Answered, withdrawn or past its deadline meanwhile: nothing was written.
        return _show(request, runtime, uow, token, status_code=410)
    if refused is not None:
        return _show(request, runtime, uow, token, refused=refused, status_code=422)
    return see_other(f"/answer/{token}?lang={language}")


@router.post("/{token}/accept")
def accept(
    token: str,
    request: Request,
    runtime: RuntimeDep,
    uow: UowDep,
    eta_minutes: Annotated[str, Form()] = "",
) -> Response:
    """Accept, with the minutes the lawyer needs to get there when given."""
    return _answer(token, request, runtime, uow, "accept", eta_minutes)


@router.post("/{token}/decline")
def decline(
    token: str,
    request: Request,
    runtime: RuntimeDep,
    uow: UowDep,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Decline with one of the listed reasons."""
    return _answer(token, request, runtime, uow, "decline", reason)
