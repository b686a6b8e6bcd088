"""The ladder's policy switches: the tablet back after a declined choice; the longest ladder."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from dispatcher import schemas, workflow
from dispatcher.db import unit_of_work
from dispatcher.models import Invitation, Lawyer, Request
from dispatcher.runtime import Runtime
from tests.support.clients import make_token
from tests.support.flows import (
    choose_first,
    context,
    decline_pending,
    open_request,
    pending_invitation,
    runtime_at,
)
from tests.support.policies import policy_text
from tests.support.registries import load_registry, small_registry


def _runtime(tmp_path: Path, **settings: str | bool | int | float) -> Runtime:
    """A service on the small registry whose policy changes `settings` (no pauses)."""
    rt = runtime_at(
        tmp_path / "l.db",
        policy_text=policy_text(
            version="t", detention_s=600, standard_s=3600, lapses=0, **settings
        ),
    )
    load_registry(rt, small_registry())
    return rt


def _chosen_lawyer_declines(rt: Runtime) -> tuple[str, str]:
    """The suspect chooses the first lawyer shown, who declines; the request id and licence."""
    make_token(rt, "investigator", "Police", territory="CEN")
    with unit_of_work(rt.engine) as session:
        request = open_request(session, rt, "R-1", kind="investigation")
        chosen = choose_first(session, rt, request)
    with unit_of_work(rt.engine) as session:
        assert decline_pending(session, rt, request.id) == chosen
    return request.id, chosen


def test_a_declined_choice_goes_back_to_the_suspect_when_the_policy_says_so(
    tmp_path: Path,
) -> None:
    rt = _runtime(tmp_path, reoffer_on_decline=True)
    request_id, chosen = _chosen_lawyer_declines(rt)
    with unit_of_work(rt.engine) as session:
        again = session.get(Request, request_id)
        assert again is not None and again.status == "awaiting_choice"
        # The suspect chooses again; the lawyer who declined is not on the new list.
        second = workflow.open_choice_session(session, again, context(rt))
        assert chosen not in [o["lawyer"] for o in second.session.options]
        assert second.session.options


def test_a_declined_choice_continues_with_the_rotation_by_default(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    request_id, _ = _chosen_lawyer_declines(rt)
    with unit_of_work(rt.engine) as session:
        again = session.get(Request, request_id)
        assert again is not None and again.status == "inviting"


def test_the_ladder_ends_unfilled_after_the_longest_allowed(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, max_invitations=2)
    make_token(rt, "court", "Court", territory="CEN")
    with unit_of_work(rt.engine) as session:
        request = open_request(session, rt, "R-1")
    for _ in range(2):
        with unit_of_work(rt.engine) as session:
            decline_pending(session, rt, request.id)
    with unit_of_work(rt.engine) as session:
        ended = session.get(Request, request.id)
        assert ended is not None and ended.status == "unfilled"
        assert (
            len(session.exec(select(Invitation).where(Invitation.request_id == request.id)).all())
            == 2
        )


def test_a_chosen_lawyer_excluded_meanwhile_falls_back_to_the_rotation_and_says_why(
    tmp_path: Path,
) -> None:
    rt = _runtime(tmp_path)
    make_token(rt, "investigator", "Police", territory="CEN")
    with unit_of_work(rt.engine) as session:
        request = open_request(session, rt, "R-1", kind="investigation")
        opened = workflow.open_choice_session(session, request, context(rt))
    chosen = str(opened.session.options[0]["lawyer"])
    # The chosen lawyer goes on leave between the list being shown and the choice.
    with unit_of_work(rt.engine) as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == chosen)).one()
        lawyer.status = "on_leave"
        session.add(lawyer)
    with unit_of_work(rt.engine) as session:
        workflow.record_choice(session, opened.token, schemas.ChoiceIn(lawyer=chosen), context(rt))
        invited = pending_invitation(session, request.id)[1].licence
        explained = workflow.explanation(session, request)
    assert invited != chosen
    assert [c["kind"] for c in explained["choices"]] == ["lawyer"]
    rotation = [d for d in explained["decisions"] if d["kind"] == "rotation"]
    assert [d["note"] for d in rotation] == [f"chosen lawyer {chosen} excluded: on_leave"]
    assert not [d for d in explained["decisions"] if d["kind"] == "choice"]
