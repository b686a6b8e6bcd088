"""Steps the domain tests take again and again, through the real workflow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from dispatcher import schemas, workflow
from dispatcher.config import Settings
from dispatcher.db import unit_of_work
from dispatcher.models import Invitation, Lawyer, Request, Requester
from dispatcher.runtime import Runtime
from tests.support import backends
from tests.support.channels import RecordingChannel

# Who sends each kind of request: a court orders counsel, an investigator asks for it.
REQUESTER_ROLE = {"court_order": "court", "investigation": "investigator"}


def runtime_at(path: Path, *, policy_text: str | None = None, **settings: Any) -> Runtime:
    """A service on the database standing for the file `path`, scheduler off; `settings` replace
    fields.

    `policy_text`, when given, is written beside the database and becomes the policy file.
    """
    values: dict[str, Any] = {
        "database_url": backends.database_url(path),
        "redis_url": backends.REDIS_URL,
        "scheduler": False,
        "log_level": "WARNING",
    }
    if policy_text is not None:
        policy = path.with_name(f"{path.stem}.policy.toml")
        policy.write_text(policy_text, encoding="utf-8")
        values["policy_file"] = str(policy)
    return Runtime.build(Settings(**(values | settings)), channel=RecordingChannel())


def context(rt: Runtime) -> workflow.Context:
    """The workflow context of the test acting under the runtime's rules."""
    return rt.context("test")


def request_body(ref: str, *, kind: str = "court_order", **overrides: Any) -> schemas.RequestIn:
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
    return schemas.RequestIn.model_validate(body)


def requester(session: Session, role: str) -> Requester:
    """The first requester of `role`; its token must have been made already."""
    found = session.exec(select(Requester).where(Requester.role == role)).first()
    assert found is not None, f"no {role} token was made"
    return found


def open_request(
    session: Session,
    rt: Runtime,
    ref: str,
    *,
    kind: str = "court_order",
    role: str | None = None,
    **overrides: Any,
) -> Request:
    """Open `request_body(ref, kind=kind, **overrides)` as a requester of `role`.

    The role defaults to the one that sends `kind`; a court order is allocated at once.
    """
    request, _ = workflow.create_request(
        session,
        request_body(ref, kind=kind, **overrides),
        requester=requester(session, role or REQUESTER_ROLE[kind]),
        ctx=context(rt),
    )
    return request


def submit_request(rt: Runtime, ref: str, **options: Any) -> str:
    """`open_request` in a unit of work of its own, committed on return; the request's id."""
    with unit_of_work(rt.engine) as session:
        return open_request(session, rt, ref, **options).id


def pending(session: Session, request_id: str) -> tuple[Invitation, Lawyer] | None:
    """The request's pending invitation and the lawyer it invites, if any.

    Fails if more than one invitation is pending: a request invites one lawyer at a time.
    """
    invitations = session.exec(
        select(Invitation).where(
            Invitation.request_id == request_id, Invitation.status == "pending"
        )
    ).all()
    assert len(invitations) <= 1, f"{len(invitations)} pending invitations for {request_id}"
    if not invitations:
        return None
    lawyer = session.get(Lawyer, invitations[0].lawyer_id)
    assert lawyer is not None
    return invitations[0], lawyer


def pending_invitation(session: Session, request_id: str) -> tuple[Invitation, Lawyer]:
    """The request's one pending invitation and the lawyer it invites; fails if there is none."""
    found = pending(session, request_id)
    assert found is not None, f"no pending invitation for {request_id}"
    return found


def accept_pending(session: Session, rt: Runtime, request_id: str) -> Lawyer:
    """The invited lawyer accepts the request's pending invitation; returns that lawyer."""
    invitation, lawyer = pending_invitation(session, request_id)
    workflow.accept(session, invitation.id, lawyer, context(rt))
    return lawyer


def accept_and_close(session: Session, rt: Runtime, request_id: str) -> Lawyer:
    """The invited lawyer accepts, then closes the appointment this request gave them."""
    lawyer = accept_pending(session, rt, request_id)
    [appointment] = [
        a
        for a in workflow.lawyer_appointments(session, lawyer, open_only=True)
        if a.request_id == request_id
    ]
    workflow.close_appointment(session, appointment.id, lawyer, context(rt))
    return lawyer


def decline_pending(session: Session, rt: Runtime, request_id: str, reason: str = "busy") -> str:
    """The invited lawyer declines the request's pending invitation; returns their licence."""
    invitation, lawyer = pending_invitation(session, request_id)
    workflow.decline(session, invitation.id, lawyer, reason, context(rt))
    return lawyer.licence


def choose_first(session: Session, rt: Runtime, request: Request) -> str:
    """Open a tablet session and choose the first lawyer shown; returns the licence."""
    ctx = context(rt)
    opened = workflow.open_choice_session(session, request, ctx)
    chosen = str(opened.session.options[0]["lawyer"])
    workflow.record_choice(session, opened.token, schemas.ChoiceIn(lawyer=chosen), ctx)
    return chosen


@contextmanager
def armed_invitations(rt: Runtime) -> Iterator[list[str]]:
    """Collect the invitation ids that the runtime's flows hand to a scheduler after commit."""
    fired: list[str] = []
    before = rt.extra_hooks
    rt.extra_hooks = before + workflow.Hooks(
        deadline_set=(lambda invitation_id, _deadline: fired.append(invitation_id),)
    )
    try:
        yield fired
    finally:
        rt.extra_hooks = before
