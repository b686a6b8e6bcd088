"""The explanation's types say what is stored: every kind of decision, checked key by key."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select

from dispatcher import allocation, workflow
from dispatcher.db import unit_of_work
from dispatcher.models import Decision, Request
from tests.support.clients import make_token
from tests.support.flows import choose_first, decline_pending, open_request, runtime_at
from tests.support.registries import load_registry, small_registry


# As a response model would read them; a key the types do not name fails the check (the
# TypedDicts inside take the model's config), as does a missing or mistyped one.
class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: allocation.DecisionExplanation


class _Explanation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: allocation.Explanation


def test_every_kind_of_decision_and_the_request_explanation_match_their_types(
    tmp_path: Path,
) -> None:
    rt = runtime_at(tmp_path / "r.db")
    load_registry(rt, small_registry())
    make_token(rt, "court", "Court", territory="NOR")
    make_token(rt, "investigator", "Police", territory="CEN")
    with unit_of_work(rt.engine) as session:
        # NOR has one lawyer and no fallback: a rotation turn, then none left (unfilled).
        court = open_request(session, rt, "R-1", territory="NOR")
        # An investigation: the tablet list, then the suspect's choice.
        suspect = open_request(session, rt, "R-2", kind="investigation")
        choose_first(session, rt, suspect)
    with unit_of_work(rt.engine) as session:
        decline_pending(session, rt, court.id)
    with unit_of_work(rt.engine) as session:
        stored = session.exec(select(Decision).order_by(col(Decision.id))).all()
        # Every kind: a turn that found a lawyer and one that did not, a list, a choice.
        assert sorted((d.kind, d.lawyer_id is not None) for d in stored) == [
            ("choice", True),
            ("list", False),
            ("rotation", False),
            ("rotation", True),
        ]
        for decision in stored:
            checked = _Decision.model_validate({"value": decision.explanation})
            assert checked.model_dump()["value"] == decision.explanation
        for request_id in (court.id, suspect.id):
            request = session.get(Request, request_id)
            assert request is not None
            explained = workflow.explanation(session, request)
            assert _Explanation.model_validate({"value": explained}).model_dump()["value"] == (
                explained
            )
