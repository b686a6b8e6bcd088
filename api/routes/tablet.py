"""The suspect's tablet: the token in the path is the only credential."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import RuntimeDep, UowDep, context
from api.schemas import RequestOut, TabletOut
from dispatcher import allocation, workflow
from dispatcher.models import Request

router = APIRouter(prefix="/api/v1/tablet", tags=["tablet"])


@router.get("/{token}", response_model=TabletOut)
def show_list(token: str, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        choice_session = workflow.tablet_session(session, token)
        request = session.get(Request, choice_session.request_id)
        assert request is not None
        return {
            "request_id": choice_session.request_id,
            "language": choice_session.language,
            "territory": allocation.request_territory_code(session, request),
            "expires_at": choice_session.expires_at.isoformat(),
            "options": sorted(choice_session.options, key=lambda o: o["position"]),
        }


@router.post("/{token}/choice", response_model=RequestOut)
def choose(token: str, body: workflow.ChoiceIn, runtime: RuntimeDep, uow: UowDep) -> dict[str, Any]:
    with uow() as session:
        request = workflow.record_choice(session, token, body, context(runtime, None, "suspect"))
        return workflow.request_out(session, request)
