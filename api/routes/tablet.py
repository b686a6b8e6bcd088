"""The suspect's tablet: the token in the path is the only credential."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import RuntimeDep, UowDep, context
from api.responses import BODY, errors
from api.schemas import TabletOption, TabletOut
from dispatcher import allocation, events, workflow
from dispatcher.db import utcnow
from dispatcher.models import Request
from dispatcher.schemas import ChoiceIn, RequestOut
from dispatcher.tokens import hash_token

router = APIRouter(prefix="/api/v1/tablet", tags=["tablet"])


def tablet_cache_key(token: str) -> str:
    return events.tablet_cache_key(hash_token(token))


@router.get("/{token}", responses=errors(404, 410, 422, 429))
def show_list(token: str, runtime: RuntimeDep, uow: UowDep) -> TabletOut:
    """The stored list; served from Redis for a few seconds, since tablets reload it often.

    The cached copy is dropped when the token is spent, superseded or its request cancelled.
    """
    if runtime.redis is not None:
        cached = runtime.redis.get_json(tablet_cache_key(token))
        if cached is not None:
            return TabletOut.model_validate(cached)
    with uow() as session:
        choice_session = workflow.tablet_session(session, token)
        request = session.get(Request, choice_session.request_id)
        assert request is not None
        shown = TabletOut(
            request_id=choice_session.request_id,
            language=choice_session.language,
            territory=allocation.request_territory_code(session, request),
            expires_at=choice_session.expires_at.isoformat(),
            options=[
                TabletOption.model_validate(o)
                for o in sorted(choice_session.options, key=lambda o: o["position"])
            ],
        )
        left_s = int((choice_session.expires_at - utcnow()).total_seconds())
    if runtime.redis is not None and left_s > 0:
        runtime.redis.set_json(
            tablet_cache_key(token),
            shown.model_dump(mode="json"),
            min(runtime.settings.tablet_cache_s, left_s),
        )
    return shown


@router.post("/{token}/choice", responses=errors(404, 409, 410, 429, *BODY))
def choose(token: str, body: ChoiceIn, runtime: RuntimeDep, uow: UowDep) -> RequestOut:
    with uow() as session:
        request = workflow.record_choice(session, token, body, context(runtime, None, "suspect"))
        return workflow.request_out(session, request)
