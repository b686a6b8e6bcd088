"""The investigator's page: open a request, hand the tablet over, follow the status live."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse
from markupsafe import Markup
from pydantic import ValidationError
from sqlmodel import Session, col, select

from api.deps import PAGE_COOKIE, PagePrincipal, RuntimeDep, UnitOfWork, UowDep, context
from api.pages.rendering import N_, language_names, local_time
from api.pages.session import form_allowed, guard, render_staff, see_other, staff_language
from api.routes.requests import file_request, retry_after
from dispatcher import lanes, registry, workflow
from dispatcher.db import unit_of_work, utcnow
from dispatcher.errors import Conflict, DomainError, Invalid
from dispatcher.models import ChoiceSession, Requester, Territory
from dispatcher.runtime import Runtime
from dispatcher.schemas import PlaceOut, RequestIn, RequestOut
from dispatcher.tokens import Principal, hash_token
from policies.vocabulary import Category, Language, Refusal, RequestKind, Role, Urgency

router = APIRouter(prefix="/investigator")


class ListedRequest(RequestOut):
    """A request as the home page lists it: when it was opened, in the reader's words."""

    created_label: str


# Languages offered for the person; any two-letter code is valid, these are the usual ones.
PERSON_LANGUAGES = ("az", "ru", "en", "tr", "ka", "fa", "uk", "ar")
URGENCIES = {Urgency.DETENTION: N_("Detention"), Urgency.STANDARD: N_("Standard")}
CATEGORIES = {
    Category.MINOR: N_("Minor"),
    Category.LESS_GRAVE: N_("Less grave"),
    Category.GRAVE: N_("Grave"),
    Category.ESPECIALLY_GRAVE: N_("Especially grave"),
}
# What the form says about a field, by the kind of validation error.
FIELD_ERRORS = {
    "missing": N_("This field is required."),
    "string_too_short": N_("This field is required."),
    "string_too_long": N_("This is too long."),
    "string_pattern_mismatch": N_("Use letters, digits and . : / ( ) - only."),
    "literal_error": N_("Choose one of the options."),
}
# The contact's phone has a pattern of its own (the reference's message would mislead).
PHONE_ERROR = N_("Give a telephone number: digits, spaces, dashes, an optional + first.")
NOT_ACCEPTED = N_("This value is not accepted.")
# What the request's page says after an action (the query names one of these).
DONE = {"cancelled": N_("The request is cancelled. A lawyer invited or appointed is told.")}
REFERENCE_USED = N_("This reference was already used for a different request.")
# A request refused before it was written (`dispatcher.lanes`), by the refusal's reason.
REFUSED = {
    Refusal.OUTSIDE_TERRITORIES: N_("You may not file requests in this territory."),
    Refusal.HOURLY_LIMIT: N_(
        "Too many requests in this territory this hour. Try again after the hour."
    ),
}
# Form fields by where the request's model puts them.
FORM_FIELDS: dict[tuple[int | str, ...], str] = {
    ("person", "name"): "person_name",
    ("person", "language"): "person_language",
    ("contact", "name"): "contact_name",
    ("contact", "phone"): "contact_phone",
}
_FIELDS = (
    "external_ref",
    "case_number",
    "territory",
    "urgency",
    "category",
    "person_name",
    "person_language",
    "place",
    "contact_name",
    "contact_phone",
)


def _home_territory(session: Session, principal: Principal) -> str:
    requester = session.get(Requester, principal.requester_id)
    home = requester.territory_id if requester else None
    territory = session.get(Territory, home) if home is not None else None
    return territory.code if territory else ""


@dataclass(frozen=True)
class OfferedTerritory:
    """A territory the form offers: its code (the value sent), its name in the reader's
    language, and its registry places."""

    code: str
    name: str
    places: list[PlaceOut]


def _territory_name(territory: Territory, language: str) -> str:
    names = {Language.AZ: territory.name_az, Language.RU: territory.name_ru}
    return names.get(Language(language), territory.name_en) or territory.code


def _place_name(place: PlaceOut, language: str) -> str:
    return {Language.AZ: place.name.az, Language.RU: place.name.ru}.get(
        Language(language), place.name.en
    )


def _offered_territories(
    session: Session, principal: Principal, language: str
) -> list[OfferedTerritory]:
    """The requester's own territories (every one for a requester that may file anywhere),
    by name, each with its places: what the form's lists offer."""
    requester = session.get(Requester, principal.requester_id)
    if requester is None:
        return []
    query = select(Territory)
    if not requester.any_territory:
        query = query.where(col(Territory.code).in_(requester.territories))
    territories = sorted(
        session.exec(query).all(), key=lambda t: _territory_name(t, language).casefold()
    )
    by_territory: dict[str, list[PlaceOut]] = {}
    for place in registry.list_places(session):
        by_territory.setdefault(place.territory, []).append(place)
    return [
        OfferedTerritory(
            code=t.code,
            name=_territory_name(t, language),
            places=sorted(
                by_territory.get(t.code, []), key=lambda p: _place_name(p, language).casefold()
            ),
        )
        for t in territories
    ]


# What the form shows in its fields: the typed text, and the juvenile box.
FormValues = dict[str, str | bool]


@dataclass(frozen=True)
class HandOver:
    """The tablet link as the hand-over page shows it: the address, its QR code, its expiry."""

    url: str
    qr: Markup
    expires_at: str
    expires_label: str


def _new_reference() -> str:
    return f"INV-{utcnow():%Y%m%d}-{secrets.token_hex(3).upper()}"


def _render_home(
    request: Request,
    session: Session,
    runtime: Runtime,
    principal: Principal,
    *,
    values: FormValues | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
    extra: dict[str, object] | None = None,
) -> Response:
    language = staff_language(request)
    assert principal.requester_id is not None
    defaults: FormValues = {
        "external_ref": _new_reference(),
        "case_number": "",
        "territory": _home_territory(session, principal),
        "urgency": Urgency.DETENTION,
        "category": Category.GRAVE,
        "person_name": "",
        "person_language": Language.AZ,
        "juvenile": False,
        "place": "",
        "contact_name": "",
        "contact_phone": "",
    }
    own = [
        ListedRequest(
            **shown.model_dump(),
            created_label=local_time(
                shown.created_at,
                language,
                runtime.policies.for_territory(shown.territory or "").timezone,
            ),
        )
        for shown in workflow.list_requests(
            session, requester_id=principal.requester_id, status=None, limit=50
        )
    ]
    return render_staff(
        request,
        "investigator/home.html",
        principal=principal,
        status_code=status_code,
        requests=own,
        values=defaults | (values or {}),
        errors=errors or {},
        urgencies=URGENCIES,
        categories=CATEGORIES,
        person_languages=list(
            zip(PERSON_LANGUAGES, language_names(language, PERSON_LANGUAGES), strict=True)
        ),
        territories=_offered_territories(session, principal, language),
        **(extra or {}),
    )


def _contact(values: FormValues) -> dict[str, str] | None:
    """The contact as the request's model takes it: none when both fields are left empty."""
    name, phone = str(values["contact_name"]), str(values["contact_phone"])
    if not name and not phone:
        return None
    return {"name": name, "phone": phone}


@router.get("")
def home(request: Request, principal: PagePrincipal, runtime: RuntimeDep, uow: UowDep) -> Response:
    """Own requests, newest first, and the form to open one."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    with uow() as session:
        return _render_home(request, session, runtime, who)


@router.post("/requests")
async def open_request(
    request: Request, principal: PagePrincipal, runtime: RuntimeDep, uow: UowDep
) -> Response:
    """Open an investigation request exactly as `POST /api/v1/requests` does."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not form_allowed(request, form.get("csrf")):
        return render_staff(request, "forbidden.html", principal=who, status_code=403)
    values: FormValues = {key: str(form.get(key, "")).strip() for key in _FIELDS}
    values["juvenile"] = form.get("juvenile") == "on"
    try:
        body = RequestIn.model_validate(
            {
                "external_ref": values["external_ref"],
                "kind": RequestKind.INVESTIGATION,
                "case_number": values["case_number"],
                "territory": values["territory"],
                "urgency": values["urgency"],
                "category": values["category"],
                "person": {
                    "name": values["person_name"],
                    "language": values["person_language"],
                    "juvenile": values["juvenile"],
                },
                "place": values["place"] or None,
                "contact": _contact(values),
            }
        )
        created, _ = file_request(body, who, runtime, uow)
        request_id = created.id
    except ValidationError as error:
        errors = {
            FORM_FIELDS.get(tuple(e["loc"]), str(e["loc"][0])): FIELD_ERRORS.get(
                e["type"], NOT_ACCEPTED
            )
            for e in error.errors()
        }
        if errors.get("contact_phone") == FIELD_ERRORS["string_pattern_mismatch"]:
            errors["contact_phone"] = PHONE_ERROR
        with uow() as session:
            return _render_home(
                request, session, runtime, who, values=values, errors=errors, status_code=422
            )
    except lanes.Refused as refused:
        # The territory field says why; the page's other answers keep the form as typed.
        with uow() as session:
            page = _render_home(
                request,
                session,
                runtime,
                who,
                values=values,
                errors={"territory": REFUSED[Refusal(refused.refusal.reason)]},
                status_code=refused.status_code,
            )
        page.headers.update(retry_after(refused) or {})
        return page
    except Invalid as error:
        with uow() as session:
            return _render_home(
                request,
                session,
                runtime,
                who,
                values=values,
                errors={error.field: NOT_ACCEPTED},
                status_code=422,
            )
    except Conflict:
        with uow() as session:
            return _render_home(
                request,
                session,
                runtime,
                who,
                values=values,
                errors={"external_ref": REFERENCE_USED},
                status_code=409,
            )
    return see_other(f"/investigator/requests/{request_id}")


def _render_request(
    request: Request,
    runtime: RuntimeDep,
    principal: Principal,
    shown: RequestOut,
    *,
    tablet: HandOver | None = None,
    error: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Response:
    with unit_of_work(runtime.engine) as session:
        place, contact = workflow.where_and_whom(session, shown.id)
        territory = registry.territory_by_code(session, shown.territory or "")
        territory_name = _territory_name(territory, staff_language(request)) if territory else None
    return render_staff(
        request,
        "investigator/request.html",
        principal=principal,
        status_code=status_code,
        shown=shown,
        place=place,
        contact=contact,
        territory_name=territory_name,
        tablet=tablet,
        error=error,
        done=done if done in DONE else None,
        cancellable=workflow.CANCELLED in workflow.TRANSITIONS[shown.status],
        urgencies=URGENCIES,
        categories=CATEGORIES,
        # Server-sent events cross processes only through Redis; without it the page polls.
        live_events=bool(runtime.settings.redis_url),
        final_states=sorted(workflow.FINAL_STATES),
    )


def _own_request(uow: UnitOfWork, request_id: str, who: Principal) -> RequestOut:
    """The investigator's own request as the contract shows it (404 for anyone else's)."""
    with uow() as session:
        return workflow.request_out(
            session, workflow.get_request(session, request_id, requester_id=who.requester_id)
        )


@router.get("/requests/{request_id}")
def show_request(
    request_id: str,
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
    done: str | None = None,
) -> Response:
    """One own request, followed live."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    try:
        shown = _own_request(uow, request_id, who)
    except DomainError as error:
        return render_staff(request, "not_found.html", principal=who, status_code=error.status_code)
    return _render_request(request, runtime, who, shown, done=done)


@router.post("/requests/{request_id}/cancel")
def cancel(
    request_id: str,
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """Cancel an own request exactly as `POST /api/v1/requests/{id}/cancel` does."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    if not form_allowed(request, csrf):
        return render_staff(request, "forbidden.html", principal=who, status_code=403)
    try:
        with uow() as session:
            counsel_request = workflow.get_request(
                session, request_id, requester_id=who.requester_id
            )
            workflow.cancel(session, counsel_request, context(runtime, who))
    except Conflict as error:
        shown = _own_request(uow, request_id, who)
        return _render_request(
            request, runtime, who, shown, error="not_cancellable", status_code=error.status_code
        )
    except DomainError as error:
        return render_staff(request, "not_found.html", principal=who, status_code=error.status_code)
    return see_other(f"/investigator/requests/{request_id}?done=cancelled")


@router.get("/requests/{request_id}/status.json")
def status(request_id: str, principal: PagePrincipal, uow: UowDep) -> JSONResponse:
    """The request's JSON for the page's polling, read with the page's cookie."""
    if principal is None:
        return JSONResponse({"detail": "not signed in"}, 401)
    if principal.role != Role.INVESTIGATOR:
        return JSONResponse({"detail": f"role {principal.role} may not do this"}, 403)
    try:
        shown = _own_request(uow, request_id, principal)
    except DomainError as error:
        return JSONResponse({"detail": error.detail}, error.status_code)
    return JSONResponse(shown.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


# The hand-over page's link lives in a cookie of the investigator's browser, limited to that
# page's address, until the link expires: the database keeps only the token's hash, and the
# page must show the link again after a reload. The cookie is bound to the page session (a
# copy is useless after signing out) and is checked against the live tablet session.
TABLET_COOKIE = "dispatcher_tablet"
NO_LINK = "no_link"


def _tablet_path(request_id: str) -> str:
    return f"/investigator/requests/{request_id}/tablet"


def _binding(request: Request, token: str) -> str:
    raw = request.cookies.get(PAGE_COOKIE, "")
    return hashlib.sha256(f"tablet:{raw}:{token}".encode()).hexdigest()[:32]


def _hand_over(
    request: Request, runtime: Runtime, shown: RequestOut, token: str, expires_at: datetime
) -> HandOver:
    # The configured address, never the Host header: a forged one must not reach the QR code.
    url = f"{runtime.settings.public_url.rstrip('/')}/tablet/{token}"
    timezone = runtime.policies.for_territory(shown.territory or "").timezone
    return HandOver(
        url=url,
        # Drawn here, inline: the link is a credential and goes to no outside service.
        qr=Markup(segno.make(url, error="m").svg_inline(scale=5, dark="#000", light="#fff")),
        expires_at=expires_at.isoformat(),
        expires_label=local_time(expires_at, staff_language(request), timezone),
    )


def _kept_token(request: Request, uow: UnitOfWork, request_id: str) -> tuple[str, datetime] | None:
    """The tablet token this browser keeps for the request, while its session lives."""
    kept = request.cookies.get(TABLET_COOKIE, "")
    token, _, binding = kept.rpartition(".")
    if not token or not hmac.compare_digest(binding, _binding(request, token)):
        return None
    with uow() as session:
        live = session.exec(
            select(ChoiceSession).where(
                ChoiceSession.token_hash == hash_token(token),
                ChoiceSession.request_id == request_id,
                col(ChoiceSession.spent_at).is_(None),
            )
        ).first()
        if live is None or live.expires_at <= utcnow():
            return None
        return token, live.expires_at


@router.post("/requests/{request_id}/choice-session")
def open_choice_session(
    request_id: str,
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    """A one-time tablet link (stored only hashed); the hand-over page shows it (POST,
    redirect, GET), so that a reload shows the same link instead of opening another."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    if not form_allowed(request, csrf):
        return render_staff(request, "forbidden.html", principal=who, status_code=403)
    try:
        with uow() as session:
            counsel_request = workflow.get_request(
                session, request_id, requester_id=who.requester_id
            )
            opened = workflow.open_choice_session(session, counsel_request, context(runtime, who))
            expires_at = opened.session.expires_at
    except DomainError as error:
        try:
            shown = _own_request(uow, request_id, who)
        except DomainError:
            return render_staff(
                request, "not_found.html", principal=who, status_code=error.status_code
            )
        return _render_request(
            request, runtime, who, shown, error="closed", status_code=error.status_code
        )
    path = _tablet_path(request_id)
    response = see_other(path)
    response.set_cookie(
        TABLET_COOKIE,
        f"{opened.token}.{_binding(request, opened.token)}",
        max_age=max(1, int((expires_at - utcnow()).total_seconds())),
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/requests/{request_id}/choice-session")
def reopened_choice_session(request_id: str) -> Response:
    """The address the hand-over page once had (a POST's answer): its page now."""
    return see_other(_tablet_path(request_id))


@router.get("/requests/{request_id}/tablet")
def hand_over(
    request_id: str,
    request: Request,
    principal: PagePrincipal,
    runtime: RuntimeDep,
    uow: UowDep,
) -> Response:
    """The hand-over page: the live tablet link and its QR code, in the browser that opened
    it; elsewhere, or once it is spent or expired, the way to open a new one."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    try:
        shown = _own_request(uow, request_id, who)
    except DomainError as error:
        return render_staff(request, "not_found.html", principal=who, status_code=error.status_code)
    kept = _kept_token(request, uow, request_id)
    if kept is None:
        page = _render_request(
            request,
            runtime,
            who,
            shown,
            error=NO_LINK if shown.status == workflow.AWAITING_CHOICE else None,
        )
        page.delete_cookie(TABLET_COOKIE, path=_tablet_path(request_id))
        return page
    token, expires_at = kept
    return _render_request(
        request, runtime, who, shown, tablet=_hand_over(request, runtime, shown, token, expires_at)
    )
