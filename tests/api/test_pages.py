"""The web pages through the real application: sign-in, forms, the tablet flow, catalogues."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup
from sqlalchemy import update
from sqlmodel import col, select

from api.deps import PAGE_COOKIE
from api.main import create_app
from api.pages.rendering import LANGUAGES, LOCALE, TEMPLATES, gettext
from api.pages.session import LANGUAGE_COOKIE, local_path
from api.pages.tablet import CLOSED, HAND_BACK, UNKNOWN
from dispatcher.config import Settings
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Choice, ChoiceSession, Invitation
from dispatcher.runtime import Runtime
from tests.support.clients import Api, make_token
from tests.support.registries import ROOT, load_registry, small_registry

BASE = "http://testserver"


class Page:
    """One browser-like session on the pages: its own cookies, the form token of its page."""

    def __init__(self, api: Api, token: str | None = None) -> None:
        self.client = httpx.Client(transport=api.client._transport, base_url=BASE)
        self.csrf = ""
        if token is not None:
            signed_in = self.client.post("/login", data={"token": token})
            assert signed_in.status_code == 303

    def get(self, path: str, **params: Any) -> httpx.Response:
        response = self.client.get(path, params=params or None)
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any], **headers: str) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf, **data}, headers=headers)


def text_of(html: str) -> str:
    """The visible text of a page, one space between words."""
    without = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", without)).strip()


def investigation(api: Api, ref: str, language: str = "az") -> str:
    body = api.order(ref, kind="investigation")
    body["person"]["language"] = language
    created = api.post("/api/v1/requests", "investigator", body)
    assert created.status_code == 201
    return str(created.json()["id"])


def tablet_token(api: Api, request_id: str) -> str:
    opened = api.post(f"/api/v1/requests/{request_id}/choice-sessions", "investigator")
    assert opened.status_code == 201
    return str(opened.json()["token"])


def stored_licences(api: Api, token: str) -> list[str]:
    shown = api.client.get(f"/api/v1/tablet/{token}")
    assert shown.status_code == 200
    return [o["lawyer"] for o in shown.json()["options"]]


# --- signing in ------------------------------------------------------------------------------


def test_staff_pages_send_a_stranger_to_sign_in(api: Api) -> None:
    page = Page(api)
    for path in ("/investigator", "/lawyer", "/investigator/requests/x"):
        response = page.client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={path.replace('/', '%2F')}"
    assert page.client.get("/investigator/requests/x/status.json").status_code == 401


def test_sign_in_keeps_a_session_not_the_token_in_a_strict_http_only_cookie(api: Api) -> None:
    page = Page(api)
    refused = page.client.post("/login", data={"token": "not-a-token"})
    assert refused.status_code == 401
    assert PAGE_COOKIE not in refused.headers.get("set-cookie", "")
    assert 'aria-invalid="true"' in refused.text

    token = api.tokens["investigator"]
    signed_in = page.client.post("/login", data={"token": f" {token} ", "next": "/investigator"})
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/investigator"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{PAGE_COOKIE}=") and token not in cookie
    for flag in ("HttpOnly", "Path=/", "SameSite=strict"):
        assert flag.lower() in cookie.lower()
    assert page.client.get("/investigator").status_code == 200


def test_each_role_lands_on_its_own_page_and_no_other(api: Api) -> None:
    lawyer = Page(api)
    landed = lawyer.client.post("/login", data={"token": api.auth("L-11")["Authorization"][7:]})
    assert landed.headers["location"] == "/lawyer"
    assert lawyer.get("/lawyer").status_code == 200
    assert lawyer.get("/investigator").status_code == 403
    assert lawyer.client.get("/investigator/requests/x/status.json").status_code == 403
    assert Page(api, api.tokens["investigator"]).get("/lawyer").status_code == 403


@given(st.text(max_size=40), st.sampled_from(["", "/", "//", "/\\", "https://", "/%2F"]))
def test_sign_in_never_sends_anyone_to_another_site(tail: str, head: str) -> None:
    target = local_path(head + tail, "/home")
    assert target.startswith("/")
    assert not target.startswith("//")
    assert "\\" not in target
    assert all(c.isprintable() and not c.isspace() for c in target)
    assert httpx.URL(BASE).join(target).host == "testserver"


def test_sign_out_needs_the_form_token_and_clears_the_cookie(api: Api) -> None:
    page = Page(api, api.tokens["investigator"])
    page.get("/investigator")
    assert page.client.post("/logout", data={"csrf": "0" * 64}).status_code == 403
    out = page.post("/logout", {})
    assert out.status_code == 303
    assert f'{PAGE_COOKIE}=""' in out.headers["set-cookie"]
    assert page.client.get("/investigator").status_code == 303


# --- the investigator ------------------------------------------------------------------------

FORM = {
    "external_ref": "INV-PAGE-1",
    "case_number": "1(101)-9/2026",
    "territory": "CEN",
    "urgency": "detention",
    "category": "grave",
    "person_name": "Person Page",
    "person_language": "ru",
}


def own_requests(api: Api) -> list[dict[str, Any]]:
    listed = api.get("/api/v1/requests", "investigator")
    assert listed.status_code == 200
    return list(listed.json())


def test_forms_from_another_site_change_nothing(api: Api) -> None:
    page = Page(api, api.tokens["investigator"])
    page.get("/investigator")
    foreign = page.post("/investigator/requests", FORM, origin="https://attacker.example")
    assert foreign.status_code == 403
    tokenless = page.client.post("/investigator/requests", data=FORM)
    assert tokenless.status_code == 403
    assert own_requests(api) == []
    same_site = page.post("/investigator/requests", FORM, origin=BASE)
    assert same_site.status_code == 303


def test_a_bad_form_names_the_field_and_opens_nothing(api: Api) -> None:
    page = Page(api, api.tokens["investigator"])
    page.get("/investigator", lang="en")
    for field, value in (("case_number", " "), ("external_ref", "bad ref!"), ("territory", "XXX")):
        refused = page.post("/investigator/requests", FORM | {field: value})
        assert refused.status_code == 422
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', refused.text), field
        assert "Person Page" in refused.text  # what was typed stays in the form
    assert own_requests(api) == []
    page.post("/investigator/requests", FORM)
    reused = page.post("/investigator/requests", FORM | {"case_number": "other"})
    assert reused.status_code == 409
    assert gettext("en", "This reference was already used for a different request.") in (
        reused.text
    )
    assert len(own_requests(api)) == 1


def test_investigator_opens_a_request_and_hands_over_the_tablet(api: Api) -> None:
    page = Page(api, api.tokens["investigator"])
    page.get("/investigator")
    opened = page.post("/investigator/requests", FORM)
    assert opened.status_code == 303
    path = opened.headers["location"]
    [created] = own_requests(api)
    assert path == f"/investigator/requests/{created['id']}"
    assert created["status"] == "awaiting_choice"
    assert created["kind"] == "investigation"

    shown = page.get(path)
    # Server-sent events where Redis carries them across workers; otherwise the page polls.
    live = "true" if api.rt.settings.redis_url else "false"
    assert f'data-live-events="{live}"' in shown.text
    status = page.client.get(f"{path}/status.json")
    assert status.json() == api.get(f"/api/v1/requests/{created['id']}", "investigator").json()

    posted = page.post(f"{path}/choice-session", {})
    assert posted.status_code == 303
    assert posted.headers["location"] == f"{path}/tablet"
    handed = page.get(f"{path}/tablet")
    assert handed.status_code == 200
    link = re.search(r'id="tablet-link" href="([^"]+)"', handed.text)
    assert link is not None
    url = link.group(1)
    assert url.startswith(f"{api.rt.settings.public_url}/tablet/")
    qr = segno.make(url, error="m").svg_inline(scale=5, dark="#000", light="#fff")
    assert str(Markup(qr)) in handed.text
    token = url.rsplit("/", 1)[1]
    assert stored_licences(api, token)  # the link is a live tablet session

    again = page.post(f"{path}/choice-session", {})
    assert again.status_code == 303
    assert api.client.get(f"/api/v1/tablet/{token}").status_code == 410  # superseded


def test_status_is_for_the_requester_only(api: Api) -> None:
    request_id = investigation(api, "INV-OWN")
    other = make_token(api.rt, "investigator", "Police Two", territory="CEN")
    page = Page(api, other)
    assert page.client.get(f"/investigator/requests/{request_id}/status.json").status_code == 404
    assert page.get(f"/investigator/requests/{request_id}").status_code == 404
    page.get("/investigator")
    refused = page.post(f"/investigator/requests/{request_id}/choice-session", {})
    assert refused.status_code == 404


# --- the tablet ------------------------------------------------------------------------------


def options_on(html: str) -> list[str]:
    return re.findall(r'name="lawyer" value="([^"]+)"', html)


def html_lang(html: str) -> str:
    found = re.search(r'<html lang="([a-z]+)"', html)
    assert found is not None
    return found.group(1)


def test_tablet_shows_the_stored_list_in_the_chosen_language(api: Api) -> None:
    token = tablet_token(api, investigation(api, "INV-LIST", language="ru"))
    page = Page(api)
    shown = page.get(f"/tablet/{token}")
    assert shown.status_code == 200
    assert options_on(shown.text) == stored_licences(api, token)
    assert html_lang(shown.text) == "ru"  # the person's language first
    for lang in LANGUAGES:
        switched = page.get(f"/tablet/{token}", lang=lang)
        assert html_lang(switched.text) == lang
        assert gettext(lang, "Choose your lawyer") in switched.text
        assert f'name="lang" value="{lang}"' in switched.text  # kept through the flow
    assert html_lang(page.get(f"/tablet/{token}", lang="xx").text) == "ru"
    assert "Content-Security-Policy" in shown.headers
    assert shown.headers["Cache-Control"] == "no-store"
    assert LANGUAGE_COOKIE not in shown.headers.get("set-cookie", "")  # a shared tablet


def test_tablet_confirms_before_it_records_and_then_shows_the_receipt(api: Api) -> None:
    request_id = investigation(api, "INV-CHOOSE", language="az")
    token = tablet_token(api, request_id)
    third = stored_licences(api, token)[2]
    page = Page(api)
    confirm = page.post(f"/tablet/{token}/confirm", {"lang": "ru", "lawyer": third})
    assert confirm.status_code == 200
    assert gettext("ru", "Please check your choice") in confirm.text
    assert api.get(f"/api/v1/requests/{request_id}", "investigator").json()["status"] == (
        "awaiting_choice"
    )

    recorded = page.post(f"/tablet/{token}/choice", {"lang": "ru", "lawyer": third})
    assert recorded.status_code == 303
    assert recorded.headers["location"] == f"/tablet/{token}?lang=ru"
    after = api.get(f"/api/v1/requests/{request_id}", "investigator").json()
    assert after["status"] == "inviting"
    assert after["invitation"]["lawyer"] == third

    receipt = page.get(recorded.headers["location"])
    assert receipt.status_code == 200
    assert gettext("ru", "Your choice is recorded") in receipt.text
    assert options_on(receipt.text) == []
    reloaded = page.get(f"/tablet/{token}")  # without ?lang: the language it was chosen in
    assert html_lang(reloaded.text) == "ru"
    assert gettext("ru", "Your choice is recorded") in reloaded.text
    with unit_of_work(api.rt.engine) as session:
        [choice] = session.exec(select(Choice).where(Choice.request_id == request_id)).all()
        assert choice.language == "ru"  # the suspect switched from the session's az
    assert api.client.get(f"/api/v1/tablet/{token}").status_code == 410
    again = page.post(f"/tablet/{token}/choice", {"lawyer": third})
    assert gettext("ru", "Your choice is recorded") in again.text
    assert api.get(f"/api/v1/requests/{request_id}", "investigator").json() == after


def test_refused_choices_spend_nothing(api: Api) -> None:
    request_id = investigation(api, "INV-REFUSE")
    token = tablet_token(api, request_id)
    page = Page(api)
    for data, field in (({"own_counsel": "  "}, "own_counsel"), ({"lawyer": "L-99"}, "lawyer")):
        for step in ("confirm", "choice"):
            refused = page.post(f"/tablet/{token}/{step}", data | {"lang": "en"})
            assert refused.status_code == 422, (step, data)
            assert options_on(refused.text) == stored_licences(api, token)
            if field == "own_counsel":
                assert 'id="own-counsel" name="own_counsel"' in refused.text
                assert 'aria-invalid="true"' in refused.text
    foreign = page.post(
        f"/tablet/{token}/choice", {"delegate": "1"}, origin="https://attacker.example"
    )
    assert foreign.status_code == 403
    assert api.get(f"/api/v1/requests/{request_id}", "investigator").json()["status"] == (
        "awaiting_choice"
    )


def test_own_counsel_and_delegate_are_recorded_as_said(api: Api) -> None:
    own = investigation(api, "INV-OWNCOUNSEL")
    token = tablet_token(api, own)
    page = Page(api)
    page.post(f"/tablet/{token}/choice", {"own_counsel": "Nigar Own"})
    assert api.get(f"/api/v1/requests/{own}", "investigator").json()["status"] == (
        "private_counsel"
    )
    assert "Nigar Own" in page.get(f"/tablet/{token}").text

    delegated = investigation(api, "INV-DELEGATE")
    token = tablet_token(api, delegated)
    page.post(f"/tablet/{token}/choice", {"delegate": "1", "lang": "en"})
    state = api.get(f"/api/v1/requests/{delegated}", "investigator").json()
    assert state["status"] == "inviting"
    receipt = page.get(f"/tablet/{token}", lang="en").text
    assert gettext("en", "You let the system choose a lawyer for you.") in receipt


def test_dead_tablet_links_say_so_in_every_language(api: Api) -> None:
    page = Page(api)
    unknown = page.get("/tablet/no-such-token")
    assert unknown.status_code == 404
    token = tablet_token(api, investigation(api, "INV-EXPIRED"))
    with unit_of_work(api.rt.engine) as session:
        session.execute(
            update(ChoiceSession)
            .where(col(ChoiceSession.request_id).is_not(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = page.get(f"/tablet/{token}")
    assert expired.status_code == 410
    for lang in LANGUAGES:
        assert f'lang="{lang}"' in expired.text
        for message in (HAND_BACK,):
            assert gettext(lang, message) in unknown.text
            assert gettext(lang, message) in expired.text
        assert gettext(lang, UNKNOWN) in unknown.text
        assert gettext(lang, CLOSED) in expired.text
    assert options_on(expired.text) == []


# --- the lawyer ------------------------------------------------------------------------------


def pending_of(api: Api, request_id: str) -> Invitation | None:
    with unit_of_work(api.rt.engine) as session:
        return session.exec(
            select(Invitation).where(
                Invitation.request_id == request_id, Invitation.status == "pending"
            )
        ).first()


def test_lawyer_answers_and_closes_on_the_page(api: Api) -> None:
    order = api.post("/api/v1/requests", "court", api.order("ORD-PAGE")).json()
    first = order["invitation"]
    page = Page(api, api.auth(first["lawyer"])["Authorization"][7:])
    shown = page.get("/lawyer", lang="en")
    assert f'data-deadline="{first["deadline"]}"' in shown.text
    assert order["case_number"] in shown.text

    no_reason = page.post(f"/lawyer/invitations/{first['id']}/decline", {"reason": "  "})
    assert no_reason.status_code == 422
    assert gettext("en", "Please give a reason for declining.") in no_reason.text
    still = pending_of(api, order["id"])
    assert still is not None and still.id == first["id"]

    declined = page.post(f"/lawyer/invitations/{first['id']}/decline", {"reason": "ill"})
    assert declined.status_code == 303
    assert declined.headers["location"] == "/lawyer?done=declined"
    second = pending_of(api, order["id"])
    assert second is not None and second.id != first["id"]
    late = page.post(f"/lawyer/invitations/{first['id']}/accept", {})
    assert late.status_code == 409

    licence = api.get(f"/api/v1/requests/{order['id']}", "court").json()["invitation"]["lawyer"]
    other = Page(api, api.auth(licence)["Authorization"][7:])
    other.get("/lawyer")
    assert other.post(f"/lawyer/invitations/{second.id}/accept", {}).status_code == 303
    assert api.get(f"/api/v1/requests/{order['id']}", "court").json()["status"] == "assigned"
    listed = other.get("/lawyer")
    [appointment] = re.findall(r'data-appointment="([0-9a-f]+)"', listed.text)
    assert other.post(f"/lawyer/appointments/{appointment}/close", {}).status_code == 303
    assert re.findall(r'data-appointment="([0-9a-f]+)"', other.get("/lawyer").text) == []
    assert page.post(f"/lawyer/appointments/{appointment}/close", {}).status_code == 404


# --- catalogues and templates ----------------------------------------------------------------


def extracted_messages() -> set[str]:
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found = extract_from_dir(ROOT, method_map, options_map, keywords={"_": None, "N_": None})
    # The pages use no plural forms: every message is a single string.
    return {m for _file, _line, m, _comments, _context in found if isinstance(m, str) and m}


def test_every_message_is_translated_in_every_language() -> None:
    messages = extracted_messages()
    assert len(messages) > 50
    for lang in LANGUAGES:
        with (LOCALE / lang / "LC_MESSAGES" / "messages.po").open("rb") as po:
            catalog = read_po(po, locale=lang)
        translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
        assert messages - translated == set(), lang
        assert [(m.id, errors) for m, errors in catalog.check()] == [], lang
    differ = [m for m in messages if gettext("ru", m) == gettext("az", m)]
    assert differ == []


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []

    def handle_data(self, data: str) -> None:
        self.words += re.findall(r"[^\W\d_]{2,}", data)


# The pages' templates and the bar's report (HTML and PDF come from the domain's package).
PAGE_TEMPLATES = sorted(
    [
        *(p for p in TEMPLATES.rglob("*.html")),
        *(p for p in (ROOT / "dispatcher" / "reports" / "templates").rglob("*.html")),
    ]
)


@pytest.mark.parametrize("template", [str(p.relative_to(ROOT)) for p in PAGE_TEMPLATES])
def test_templates_hold_no_words_outside_the_catalogues(template: str) -> None:
    source = (ROOT / template).read_text(encoding="utf-8")
    # A self-contained document's inline style sheet is no visible text.
    source = re.sub(r"<style>.*?</style>", " ", source, flags=re.S)
    bare = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", source, flags=re.S)
    parser = _Text()
    parser.feed(bare)
    assert parser.words == [], template


def test_pages_stay_out_of_the_api_contract(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert all(path.startswith(("/api/", "/healthz", "/readyz", "/metrics")) for path in paths)


def test_static_files_are_served_from_the_package(api: Api) -> None:
    for name in ("pages.css", "tablet.js", "follow.js", "countdown.js"):
        served = api.client.get(f"/static/{name}")
        assert served.status_code == 200
        assert served.content == (ROOT / "api" / "static" / name).read_bytes()
    assert api.client.get("/static/../pages/session.py").status_code == 404


def test_tablet_pages_log_neither_token_nor_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'log.db'}",
        scheduler=False,
        log_format="json",
        log_level="INFO",
    )
    rt = Runtime.build(settings)
    load_registry(rt, small_registry())
    try:
        with TestClient(create_app(runtime=rt)) as client:
            api = Api(client, rt, "CEN")
            token = tablet_token(api, investigation(api, "INV-LOG"))
            page = Page(api)
            page.get(f"/tablet/{token}")
            page.post(f"/tablet/{token}/confirm", {"own_counsel": "Secret Counselname"})
            page.post(f"/tablet/{token}/choice", {"own_counsel": "Secret Counselname"})
            page.get(f"/tablet/{token}")
    finally:
        rt.stop()
    logged = capsys.readouterr().err
    routes = {json.loads(line).get("route") for line in logged.splitlines() if line.startswith("{")}
    assert {"/tablet/{token}", "/tablet/{token}/confirm", "/tablet/{token}/choice"} <= routes
    assert token not in logged
    assert "Secret Counselname" not in logged


PAUSED_LINE = (
    "Paused until %(time)s: %(lapses)s invitations lapsed unanswered, so no invitation "
    "reaches you until then."
)


def test_a_paused_lawyer_sees_the_pause_on_the_page_in_each_language(api: Api) -> None:
    from dispatcher.models import Lawyer, LawyerPause

    with unit_of_work(api.rt.engine) as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == "L-11")).one()
        assert lawyer.id is not None
        session.add(
            LawyerPause(
                lawyer_id=lawyer.id,
                starts_at=utcnow() - timedelta(hours=1),
                ends_at=utcnow() + timedelta(hours=71),
                lapses=2,
            )
        )
    page = Page(api, api.auth("L-11")["Authorization"][7:])
    for lang in LANGUAGES:
        shown = page.get("/lawyer", lang=lang).text
        line = gettext(lang, PAUSED_LINE)
        assert line != PAUSED_LINE or lang == "en"
        after = line.partition("%(lapses)s")[2]
        assert 'id="paused"' in shown
        assert after.strip()[:20] in shown
    other = Page(api, api.auth("L-12")["Authorization"][7:])
    assert 'id="paused"' not in other.get("/lawyer", lang="en").text
