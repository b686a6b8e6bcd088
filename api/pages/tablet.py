"""The suspect's tablet page: the list, a confirmation, the receipt. The token is the credential.

Never log the token or a name here: the access log names the route template only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError
from sqlmodel import Session, col, select

from api.deps import RuntimeDep, UnitOfWork, UowDep, context
from api.pages.rendering import LANGUAGES, N_, gettext, local_time, pick_language, render
from api.pages.session import same_origin, see_other
from dispatcher import allocation, registry, workflow
from dispatcher.db import utcnow
from dispatcher.errors import Conflict, Gone, Invalid, NotFound
from dispatcher.models import Choice, ChoiceSession, Lawyer, TabletOption
from dispatcher.models import Request as CounselRequest
from dispatcher.photos import photo_file
from dispatcher.runtime import Runtime
from dispatcher.schemas import ChoiceIn
from policies.config import Policy
from policies.vocabulary import ChoiceKind

router = APIRouter(prefix="/tablet")

UNKNOWN = N_("This tablet link is not valid.")
CLOSED = N_("This tablet link has expired or has already been used.")
HAND_BACK = N_("Please give the tablet back to the investigator.")

LangField = Annotated[str | None, Form()]


def _options(choice_session: ChoiceSession) -> list[TabletOption]:
    return sorted(choice_session.options, key=lambda option: option["position"])


def _firm_names(session: Session, options: list[TabletOption]) -> dict[str, str]:
    """The firms' names for the list (the stored list keeps their codes)."""
    firms = (registry.firm_by_code(session, code) for code in {o["firm"] for o in options})
    return {firm.code: firm.name for firm in firms if firm is not None}


def _request_and_policy(
    session: Session, runtime: Runtime, request_id: str
) -> tuple[CounselRequest, Policy]:
    """The request behind a list or a choice, and the rules of its territory."""
    counsel_request = session.get(CounselRequest, request_id)
    assert counsel_request is not None
    code = allocation.request_territory_code(session, counsel_request)
    return counsel_request, runtime.policies.for_territory(code)


def _answer_minutes(policy: Policy, counsel_request: CounselRequest) -> int:
    """Whole minutes an invited lawyer has to answer (what "next" tells the person)."""
    return max(1, policy.deadline_s(counsel_request.urgency) // 60)


def _photographed(session: Session, options: list[TabletOption]) -> set[str]:
    """The licences on the list whose lawyer has a photo in the registry."""
    licences = [option["lawyer"] for option in options]
    found = session.exec(
        select(Lawyer.licence).where(
            col(Lawyer.licence).in_(licences), col(Lawyer.photo).is_not(None)
        )
    ).all()
    return set(found)


def _time_left(expires_at: datetime) -> str:
    """The link's time left as the countdown writes it (m:ss, or h:mm:ss), for a page without
    scripts; tablet.js's countdown takes over in the browser."""
    left = max(0, int((expires_at - utcnow()).total_seconds()))
    hours, rest = divmod(left, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _receipt(
    request: Request, session: Session, runtime: Runtime, choice: Choice, lang: str | None
) -> Response:
    language = pick_language(lang, choice.language)
    chosen = next((o for o in choice.options if o["position"] == choice.position), None)
    counsel_request, policy = _request_and_policy(session, runtime, choice.request_id)
    firm_names = _firm_names(session, [chosen] if chosen else [])
    return render(
        request,
        "tablet/receipt.html",
        language=language,
        choice=choice,
        chosen=chosen,
        firm_name=firm_names.get(chosen["firm"], chosen["firm"]) if chosen else "",
        case_reference=counsel_request.case_number,
        minutes=_answer_minutes(policy, counsel_request),
        recorded_at=local_time(choice.chosen_at, language, policy.timezone),
    )


def _closed_or_receipt(
    request: Request,
    session: Session,
    runtime: Runtime,
    token: str,
    lang: str | None,
    error: NotFound | Gone | Conflict,
) -> Response:
    """A spent token shows what it recorded for a short while (to a POST with 410, as the API
    answers); later, and for any other dead token, the page says so in every language."""
    choice = workflow.tablet_receipt(session, token)
    if choice is not None and _receipt_shown(session, runtime, choice):
        receipt = _receipt(request, session, runtime, choice, lang)
        if request.method == "POST":
            receipt.status_code = 410
        return receipt
    reason = UNKNOWN if isinstance(error, NotFound) else CLOSED
    notices = [
        {"lang": code, "reason": gettext(code, reason), "hand_back": gettext(code, HAND_BACK)}
        for code in LANGUAGES
    ]
    return render(
        request,
        "tablet/closed.html",
        language=pick_language(lang),
        notices=notices,
        status_code=404 if isinstance(error, NotFound) else 410,
    )


def _receipt_shown(session: Session, runtime: Runtime, choice: Choice) -> bool:
    """Whether a spent link still shows its receipt: only for the policy's few minutes, since
    the tablet passes to the next person."""
    counsel_request = session.get(CounselRequest, choice.request_id)
    assert counsel_request is not None
    code = allocation.request_territory_code(session, counsel_request)
    shown_for = timedelta(seconds=runtime.policies.for_territory(code).choice.receipt_s)
    return utcnow() < choice.chosen_at + shown_for


def _list(
    request: Request,
    session: Session,
    runtime: Runtime,
    token: str,
    choice_session: ChoiceSession,
    lang: str | None,
    *,
    error: str | None = None,
    own_counsel: str = "",
    status_code: int = 200,
) -> Response:
    language = pick_language(lang, choice_session.language)
    counsel_request, policy = _request_and_policy(session, runtime, choice_session.request_id)
    return render(
        request,
        "tablet/list.html",
        language=language,
        token_path=f"/tablet/{token}",
        options=_options(choice_session),
        firm_names=_firm_names(session, choice_session.options),
        photographed=_photographed(session, choice_session.options),
        rights=policy.choice.rights.text(language),
        minutes=_answer_minutes(policy, counsel_request),
        expires_at=choice_session.expires_at,
        time_left=_time_left(choice_session.expires_at),
        error=error,
        own_counsel=own_counsel,
        status_code=status_code,
    )


def _refused(
    request: Request,
    runtime: Runtime,
    uow: UnitOfWork,
    token: str,
    lang: str | None,
    error: NotFound | Gone | Conflict | Invalid,
) -> Response:
    """The page after a choice that was not recorded: the list with the field, or why not."""
    with uow() as session:
        try:
            choice_session = workflow.tablet_session(session, token)
        except (NotFound, Gone) as dead:
            return _closed_or_receipt(request, session, runtime, token, lang, dead)
        if isinstance(error, Invalid):
            return _list(
                request,
                session,
                runtime,
                token,
                choice_session,
                lang,
                error=error.field,
                status_code=422,
            )
        return _closed_or_receipt(request, session, runtime, token, lang, error)


@router.get("/{token}")
def show(
    token: str, request: Request, runtime: RuntimeDep, uow: UowDep, lang: str | None = None
) -> Response:
    """The regional list in its stored order; the receipt once the token is spent."""
    with uow() as session:
        try:
            choice_session = workflow.tablet_session(session, token)
        except (NotFound, Gone) as error:
            return _closed_or_receipt(request, session, runtime, token, lang, error)
        return _list(request, session, runtime, token, choice_session, lang)


@router.get("/{token}/photos/{licence}")
def photo(token: str, licence: str, runtime: RuntimeDep, uow: UowDep) -> Response:
    """A listed lawyer's photo, to the live list that shows it only: 404 for anyone else's."""
    with uow() as session:
        try:
            choice_session = workflow.tablet_session(session, token)
        except (NotFound, Gone):
            return Response(status_code=404)
        if licence not in {option["lawyer"] for option in choice_session.options}:
            return Response(status_code=404)
        lawyer = registry.lawyer_by_licence(session, licence)
        stored = lawyer.photo if lawyer is not None else None
    found = photo_file(runtime.settings.data_dir, stored) if stored else None
    if found is None:
        return Response(status_code=404)
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-store"})


@router.post("/{token}/confirm")
def confirm(
    token: str,
    request: Request,
    runtime: RuntimeDep,
    uow: UowDep,
    lang: LangField = None,
    lawyer: Annotated[str | None, Form()] = None,
    delegate: Annotated[str | None, Form()] = None,
    own_counsel: Annotated[str | None, Form()] = None,
) -> Response:
    """Show the choice back before anything is recorded."""
    if not same_origin(request):
        return render(request, "tablet/refused.html", language=pick_language(lang), status_code=403)
    with uow() as session:
        try:
            choice_session = workflow.tablet_session(session, token)
        except (NotFound, Gone) as error:
            return _closed_or_receipt(request, session, runtime, token, lang, error)
        chosen = next((o for o in choice_session.options if o["lawyer"] == lawyer), None)
        name = (own_counsel or "").strip()
        if lawyer is not None and chosen is None:
            return _list(
                request,
                session,
                runtime,
                token,
                choice_session,
                lang,
                error="lawyer",
                status_code=422,
            )
        if lawyer is None and not delegate and not name:
            return _list(
                request,
                session,
                runtime,
                token,
                choice_session,
                lang,
                error="own_counsel",
                status_code=422,
            )
        language = pick_language(lang, choice_session.language)
        firm_names = _firm_names(session, [chosen] if chosen else [])
        counsel_request, policy = _request_and_policy(session, runtime, choice_session.request_id)
        minutes = _answer_minutes(policy, counsel_request)
    kind = (
        ChoiceKind.LAWYER
        if chosen
        else (ChoiceKind.DELEGATE if delegate else ChoiceKind.OWN_COUNSEL)
    )
    return render(
        request,
        "tablet/confirm.html",
        language=language,
        token_path=f"/tablet/{token}",
        kind=kind,
        chosen=chosen,
        firm_name=firm_names.get(chosen["firm"], chosen["firm"]) if chosen else "",
        own_counsel=name[:200],
        minutes=minutes,
    )


@router.post("/{token}/choice")
def record(
    token: str,
    request: Request,
    runtime: RuntimeDep,
    uow: UowDep,
    lang: LangField = None,
    lawyer: Annotated[str | None, Form()] = None,
    delegate: Annotated[str | None, Form()] = None,
    own_counsel: Annotated[str | None, Form()] = None,
) -> Response:
    """Record the confirmed choice with the same flow as the API, then show the receipt."""
    if not same_origin(request):
        return render(request, "tablet/refused.html", language=pick_language(lang), status_code=403)
    language_query = f"?lang={lang}" if lang in LANGUAGES else ""
    try:
        data = ChoiceIn(
            lawyer=lawyer,
            delegate=bool(delegate) or None,
            own_counsel=own_counsel,
            language=lang if lang in LANGUAGES else None,
        )
        # The unit of work must see the error to roll back: a refused choice spends nothing.
        with uow() as session:
            workflow.record_choice(session, token, data, context(runtime, None, "suspect"))
    except ValidationError:
        return _refused(request, runtime, uow, token, lang, Invalid("own_counsel", "invalid"))
    except (NotFound, Gone, Conflict, Invalid) as error:
        return _refused(request, runtime, uow, token, lang, error)
    return see_other(f"/tablet/{token}{language_query}")
