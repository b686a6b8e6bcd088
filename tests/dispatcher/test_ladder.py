"""The ladder's policy switches: the tablet back after a declined choice; the longest ladder."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, select

from dispatcher import workflow
from dispatcher.config import Settings
from dispatcher.db import unit_of_work
from dispatcher.models import Invitation, Lawyer, Request, Requester
from dispatcher.runtime import Runtime
from tests.conftest import RecordingChannel, load_registry, make_token, small_registry


def _runtime(tmp_path: Path, rotation: str = "", choice: str = "") -> Runtime:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'version = "t"\n[deadlines]\ndetention_s = 600\nstandard_s = 3600\n'
        f"[rotation]\n{rotation}\n[choice]\n{choice}\n",
        encoding="utf-8",
    )
    rt = Runtime.build(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'l.db'}",
            scheduler=False,
            log_level="WARNING",
            policy_file=str(policy),
        ),
        channel=RecordingChannel(),
    )
    load_registry(rt, small_registry())
    return rt


def _open(session: Session, rt: Runtime, kind: str, role: str) -> Request:
    requester = session.exec(select(Requester).where(Requester.role == role)).one()
    body = workflow.RequestIn.model_validate(
        {
            "external_ref": "R-1",
            "kind": kind,
            "case_number": "C-1",
            "territory": "CEN",
            "urgency": "standard",
            "category": "grave",
            "person": {"name": "P", "language": "az"},
        }
    )
    request, _ = workflow.create_request(
        session, body, requester=requester, ctx=workflow.Context(rt.policies, "t")
    )
    return request


def _decline_pending(session: Session, rt: Runtime, request_id: str) -> str:
    invitation = session.exec(
        select(Invitation).where(
            Invitation.request_id == request_id, Invitation.status == "pending"
        )
    ).one()
    lawyer = session.get(Lawyer, invitation.lawyer_id)
    assert lawyer is not None
    workflow.decline(session, invitation.id, lawyer, "busy", workflow.Context(rt.policies, "t"))
    return lawyer.licence


def test_a_declined_choice_goes_back_to_the_suspect_when_the_policy_says_so(
    tmp_path: Path,
) -> None:
    rt = _runtime(tmp_path, choice="reoffer_on_decline = true")
    make_token(rt, "investigator", "Police", territory="CEN")
    ctx = workflow.Context(rt.policies, "t")
    with unit_of_work(rt.engine) as session:
        request = _open(session, rt, "investigation", "investigator")
        opened = workflow.open_choice_session(session, request, ctx)
        chosen = opened.session.options[0]["lawyer"]
        workflow.record_choice(session, opened.token, workflow.ChoiceIn(lawyer=chosen), ctx)
    with unit_of_work(rt.engine) as session:
        assert _decline_pending(session, rt, request.id) == chosen
        again = session.get(Request, request.id)
        assert again is not None and again.status == "awaiting_choice"
        # The suspect chooses again; the lawyer who declined is not on the new list.
        second = workflow.open_choice_session(session, again, ctx)
        assert chosen not in [o["lawyer"] for o in second.session.options]
        assert second.session.options


def test_a_declined_choice_continues_with_the_rotation_by_default(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    make_token(rt, "investigator", "Police", territory="CEN")
    ctx = workflow.Context(rt.policies, "t")
    with unit_of_work(rt.engine) as session:
        request = _open(session, rt, "investigation", "investigator")
        opened = workflow.open_choice_session(session, request, ctx)
        chosen = opened.session.options[0]["lawyer"]
        workflow.record_choice(session, opened.token, workflow.ChoiceIn(lawyer=chosen), ctx)
    with unit_of_work(rt.engine) as session:
        _decline_pending(session, rt, request.id)
        again = session.get(Request, request.id)
        assert again is not None and again.status == "inviting"


def test_the_ladder_ends_unfilled_after_the_longest_allowed(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, rotation="max_invitations = 2")
    make_token(rt, "court", "Court", territory="CEN")
    with unit_of_work(rt.engine) as session:
        request = _open(session, rt, "court_order", "court")
    for _ in range(2):
        with unit_of_work(rt.engine) as session:
            _decline_pending(session, rt, request.id)
    with unit_of_work(rt.engine) as session:
        ended = session.get(Request, request.id)
        assert ended is not None and ended.status == "unfilled"
        assert (
            len(session.exec(select(Invitation).where(Invitation.request_id == request.id)).all())
            == 2
        )
