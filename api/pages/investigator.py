"""The investigator's page: open a request, hand the tablet over, follow the status live."""

from __future__ import annotations

import csv
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse
from markupsafe import Markup
from pydantic import ValidationError
from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.datastructures import UploadFile as StarletteUpload

from api.deps import PAGE_COOKIE, PagePrincipal, RuntimeDep, UnitOfWork, UowDep, context
from api.pages.rendering import N_, language_names, local_time
from api.pages.session import form_allowed, guard, render_staff, see_other, staff_language
from api.routes.batch import MAX_BATCH, file_batch
from api.routes.requests import file_request, retry_after
from dispatcher import lanes, registry, workflow
from dispatcher.db import unit_of_work, utcnow
from dispatcher.errors import Conflict, DomainError, Invalid
from dispatcher.models import ChoiceSession, Requester, Territory
from dispatcher.models import Request as CounselRequest
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


# --- a list of detainees of one case and place (mass detentions) ------------------------------

# Words a line's third column may say that the person is a minor, or is not (any case).
JUVENILE_WORDS = {"yes", "y", "true", "1", "+", "juvenile", "minor", "bəli", "да"}
ADULT_WORDS = {"", "no", "n", "false", "0", "-", "adult", "xeyr", "нет"}
# The first row of a CSV file is a header when its first cell says so.
HEADER_WORDS = {"name", "full name", "ad", "имя", "фио"}
LIST_MISSING = N_("Give the list of detainees: pasted lines or a CSV file.")
LIST_BOTH = N_("Give the list either pasted or as a file, not both.")
LIST_TOO_LONG = N_("At most %(count)s people in one list.")
LIST_NOT_TEXT = N_("The file is not a CSV text file (UTF-8).")
LINE_NAME = N_("the name is missing or too long")
LINE_LANGUAGE = N_("the language must be a two-letter code such as az, ru or en")
LINE_JUVENILE = N_("the third column must say yes or no (a minor or not)")
LINE_COLUMNS = N_("more than three columns: name; language; juvenile")
LINE_REFERENCE = N_("its reference was already used for a different request")
LINE_REFUSED = N_("not accepted")
# The case's fields, shared by every line: the form's names and the request's fields.
_CASE_FIELDS = (
    "external_ref",
    "case_number",
    "territory",
    "urgency",
    "category",
    "place",
    "contact_name",
    "contact_phone",
)


@dataclass(frozen=True)
class Detainee:
    """One line of the list: where it was (its line in the text or file) and what it says."""

    line: int
    name: str
    language: str
    juvenile: bool


@dataclass(frozen=True)
class LineError:
    line: int
    problem: str


def _rows(text: str, *, from_file: bool) -> list[tuple[int, list[str]]]:
    """The non-empty rows of the list with their line numbers: a CSV file split by its own
    delimiter (a comma or a semicolon), pasted lines by semicolons."""
    lines = text.splitlines()
    if from_file:
        sample = "\n".join(lines[:20])
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;")
        except csv.Error:
            dialect = csv.excel
        split = [(n, row) for n, row in enumerate(csv.reader(lines, dialect), start=1)]
    else:
        split = [(n, line.split(";")) for n, line in enumerate(lines, start=1)]
    rows = [(n, [cell.strip() for cell in row]) for n, row in split if any(c.strip() for c in row)]
    if from_file and rows and rows[0][1][0].casefold() in HEADER_WORDS:
        rows = rows[1:]
    return rows


def parse_detainees(text: str, *, from_file: bool) -> tuple[list[Detainee], list[LineError]]:
    """The people of a list, or the problems of its lines (each naming its line)."""
    people: list[Detainee] = []
    problems: list[LineError] = []
    for line, cells in _rows(text, from_file=from_file):
        name, language, juvenile = [*cells, "", "", ""][:3]
        if len(cells) > 3 and any(cells[3:]):
            problems.append(LineError(line, LINE_COLUMNS))
            continue
        word = juvenile.casefold()
        if word not in JUVENILE_WORDS | ADULT_WORDS:
            problems.append(LineError(line, LINE_JUVENILE))
            continue
        people.append(Detainee(line, name, language.lower() or Language.AZ, word in JUVENILE_WORDS))
    return people, problems


def _line_problem(error: dict[str, object]) -> str:
    """What a line's validation error means, by the field of the person it names."""
    loc = error.get("loc")
    field = loc[1] if isinstance(loc, tuple | list) and len(loc) > 1 else ""
    return {"name": LINE_NAME, "language": LINE_LANGUAGE}.get(str(field), LINE_REFUSED)


def _detainee_requests(
    values: FormValues, people: list[Detainee]
) -> tuple[list[RequestIn], list[LineError], dict[str, str]]:
    """One request per person, the case's fields shared; the lines' problems, and the case
    fields' own (keyed by the form's field)."""
    items: list[RequestIn] = []
    problems: list[LineError] = []
    case_errors: dict[str, str] = {}
    for number, person in enumerate(people, start=1):
        try:
            items.append(
                RequestIn.model_validate(
                    {
                        "external_ref": f"{values['external_ref']}-{number}",
                        "kind": RequestKind.INVESTIGATION,
                        "case_number": values["case_number"],
                        "territory": values["territory"],
                        "urgency": values["urgency"],
                        "category": values["category"],
                        "person": {
                            "name": person.name,
                            "language": person.language,
                            "juvenile": person.juvenile,
                        },
                        "place": values["place"] or None,
                        "contact": _contact(values),
                    }
                )
            )
        except ValidationError as error:
            for entry in error.errors():
                loc = tuple(entry["loc"])
                if loc and loc[0] == "person":
                    problems.append(LineError(person.line, _line_problem(dict(entry))))
                else:
                    field = FORM_FIELDS.get(loc, str(loc[0]) if loc else "external_ref")
                    case_errors[field] = FIELD_ERRORS.get(entry["type"], NOT_ACCEPTED)
    if case_errors.get("contact_phone") == FIELD_ERRORS["string_pattern_mismatch"]:
        case_errors["contact_phone"] = PHONE_ERROR
    return items, problems, case_errors


def _render_detainees(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    values: FormValues | None = None,
    errors: dict[str, str] | None = None,
    problems: list[LineError] | None = None,
    status_code: int = 200,
) -> Response:
    language = staff_language(request)
    defaults: FormValues = {
        "external_ref": _new_reference(),
        "case_number": "",
        "territory": _home_territory(session, principal),
        "urgency": Urgency.DETENTION,
        "category": Category.GRAVE,
        "place": "",
        "contact_name": "",
        "contact_phone": "",
        "detainees": "",
    }
    return render_staff(
        request,
        "investigator/detainees.html",
        principal=principal,
        status_code=status_code,
        values=defaults | (values or {}),
        errors=errors or {},
        problems=sorted(problems or [], key=lambda p: p.line),
        most=MAX_BATCH,
        urgencies=URGENCIES,
        categories=CATEGORIES,
        territories=_offered_territories(session, principal, language),
    )


@router.get("/detainees")
def detainees_form(request: Request, principal: PagePrincipal, uow: UowDep) -> Response:
    """The form for several detainees of one case and place."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    with uow() as session:
        return _render_detainees(request, session, who)


async def _list_text(form: FormData) -> tuple[str, bool] | str:
    """The list as text, and whether it came as a file; or what is wrong with it."""
    pasted = str(form.get("detainees", "")).strip()
    upload = form.get("detainees_file")
    content = b""
    if isinstance(upload, StarletteUpload):
        content = await upload.read()
    if pasted and content.strip():
        return LIST_BOTH
    if content.strip():
        try:
            return content.decode("utf-8-sig"), True
        except UnicodeDecodeError:
            return LIST_NOT_TEXT
    if not pasted:
        return LIST_MISSING
    return pasted, False


@router.post("/detainees")
async def file_detainees(
    request: Request, principal: PagePrincipal, runtime: RuntimeDep, uow: UowDep
) -> Response:
    """File one investigation request per person of the list, all or nothing, exactly as
    `POST /api/v1/requests/batch` does; then show each person's request."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    form = await request.form()
    if not form_allowed(request, form.get("csrf")):
        return render_staff(request, "forbidden.html", principal=who, status_code=403)
    values: FormValues = {key: str(form.get(key, "")).strip() for key in _CASE_FIELDS}
    values["detainees"] = str(form.get("detainees", ""))

    def again(
        status_code: int,
        errors: dict[str, str] | None = None,
        problems: list[LineError] | None = None,
    ) -> Response:
        with uow() as session:
            return _render_detainees(
                request,
                session,
                who,
                values=values,
                errors=errors,
                problems=problems,
                status_code=status_code,
            )

    given = await _list_text(form)
    if isinstance(given, str):
        return again(422, {"detainees": given})
    text, from_file = given
    people, problems = parse_detainees(text, from_file=from_file)
    if len(people) + len(problems) > MAX_BATCH:
        return again(422, {"detainees": LIST_TOO_LONG})
    if not people and not problems:
        return again(422, {"detainees": LIST_MISSING})
    items, more, case_errors = _detainee_requests(values, people)
    problems += more
    if problems or case_errors:
        return again(422, case_errors, problems)
    try:
        file_batch(items, who, runtime, uow)
    except lanes.Refused as refused:
        page = again(refused.status_code, {"territory": REFUSED[Refusal(refused.refusal.reason)]})
        page.headers.update(retry_after(refused) or {})
        return page
    except DomainError as error:
        line, field = _where(error, people)
        if line is None:
            return again(error.status_code, {field or "territory": NOT_ACCEPTED})
        problem = LINE_REFERENCE if isinstance(error, Conflict) else LINE_REFUSED
        return again(error.status_code, None, [LineError(line, problem)])
    return see_other(f"/investigator/detainees/filed?{urlencode({'ref': values['external_ref']})}")


def _where(error: DomainError, people: list[Detainee]) -> tuple[int | None, str | None]:
    """The line of the list a batch's error names (by its item's index), or the case's field."""
    index: int | None = None
    field: str | None = None
    if isinstance(error, Invalid) and isinstance(error.detail, list) and error.detail:
        loc = error.detail[0].get("loc", [])
        index = loc[2] if len(loc) > 2 and isinstance(loc[2], int) else None
        field = str(loc[3]) if len(loc) > 3 else None
        if field in _CASE_FIELDS:
            return None, field
    else:
        found = re.match(r"requests\[(\d+)\]", str(error.detail))
        index = int(found.group(1)) if found else None
    if index is None or index >= len(people):
        return None, field
    return people[index].line, None


@dataclass(frozen=True)
class FiledDetainee:
    """One person of a filed list as its page shows them."""

    number: int
    name: str
    shown: RequestOut


@router.get("/detainees/filed")
def filed_detainees(
    request: Request, principal: PagePrincipal, uow: UowDep, ref: str = ""
) -> Response:
    """The requests of a filed list (its reference followed by each person's number)."""
    who = guard(request, principal, Role.INVESTIGATOR)
    if isinstance(who, Response):
        return who
    filed: list[FiledDetainee] = []
    with uow() as session:
        rows = session.exec(
            select(CounselRequest).where(
                CounselRequest.requester_id == who.requester_id,
                col(CounselRequest.external_ref).startswith(f"{ref}-", autoescape=True),
            )
        ).all()
        for row in rows:
            suffix = row.external_ref[len(ref) + 1 :]
            if suffix.isdigit():
                filed.append(
                    FiledDetainee(int(suffix), row.person_name, workflow.request_out(session, row))
                )
    if not ref or not filed:
        return render_staff(request, "not_found.html", principal=who, status_code=404)
    return render_staff(
        request,
        "investigator/filed.html",
        principal=who,
        reference=ref,
        filed=sorted(filed, key=lambda f: f.number),
    )
