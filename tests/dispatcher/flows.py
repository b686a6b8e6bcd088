"""Steps the domain tests take again and again, through the real workflow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session, select

from dispatcher import workflow
from dispatcher.models import Invitation, Lawyer, Request, Requester
from dispatcher.runtime import Runtime


def request_body(ref: str, *, kind: str = "court_order", **overrides: Any) -> workflow.RequestIn:
    """A valid request in territory CEN; `overrides` replace top-level fields."""
    body: dict[str, Any] = {
        "external_ref": ref,
        "kind": kind,
        "case_number": f"C-{ref}",
        "territory": "CEN",
        "urgency": "standard",
        "category": "grave",
        "person": {"name": f"P {ref}", "language": "az"},
        **overrides,
    }
    return workflow.RequestIn.model_validate(body)


def open_request(
    session: Session, rt: Runtime, body: workflow.RequestIn, *, role: str = "court"
) -> Request:
    """Open the request as the (only) requester of `role`."""
    requester = session.exec(select(Requester).where(Requester.role == role)).first()
    assert requester is not None, f"no {role} token was made"
    request, _ = workflow.create_request(
        session, body, requester=requester, ctx=workflow.Context(rt.policies, "test")
    )
    return request


def pending_invitation(session: Session, request_id: str) -> tuple[Invitation, Lawyer]:
    """The request's one pending invitation and the lawyer it invites."""
    invitation = session.exec(
        select(Invitation).where(
            Invitation.request_id == request_id, Invitation.status == "pending"
        )
    ).one()
    lawyer = session.get(Lawyer, invitation.lawyer_id)
    assert lawyer is not None
    return invitation, lawyer


def choose_first(session: Session, rt: Runtime, request: Request) -> str:
    """Open a tablet session and choose the first lawyer shown; returns the licence."""
    ctx = workflow.Context(rt.policies, "test")
    opened = workflow.open_choice_session(session, request, ctx)
    chosen = str(opened.session.options[0]["lawyer"])
    workflow.record_choice(session, opened.token, workflow.ChoiceIn(lawyer=chosen), ctx)
    return chosen


@contextmanager
def armed_invitations() -> Iterator[list[str]]:
    """Collect the invitation ids handed to the scheduler after each commit."""
    fired: list[str] = []
    workflow.invitation_listeners.append(
        lambda invitation_id, _deadline: fired.append(invitation_id)
    )
    try:
        yield fired
    finally:
        workflow.invitation_listeners.clear()
