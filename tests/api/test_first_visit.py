"""A kinder first visit: the start page, page errors as pages in the reader's language (the
API's stay JSON), the hand-over page that survives a reload, territory and place by name."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col

from api.pages.rendering import LANGUAGES, gettext
from api.pages.tablet import CLOSED, HAND_BACK
from dispatcher.db import unit_of_work, utcnow
from dispatcher.errors import Gone
from dispatcher.models import Choice
from tests.api.test_pages import FORM, Page, investigation, tablet_token, text_of
from tests.api.test_places import with_places
from tests.support.clients import Api, make_token


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_start_page_says_what_the_service_is_and_where_to_go(api: Api, lang: str) -> None:
    page = Page(api)
    shown = page.get("/", lang=lang)
    assert shown.status_code == 200
    assert shown.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in shown.text
    words = text_of(shown.text)
    assert (
        gettext(
            lang,
            "This service appoints state-funded defence lawyers to people who are "
            "detained or charged, quickly and fairly.",
        )
        in words
    )
    assert 'href="/login"' in shown.text and 'href="/public"' in shown.text
    assert "/" not in api.client.get("/openapi.json").json()["paths"]


def test_the_start_page_offers_a_signed_in_reader_their_own_page(api: Api) -> None:
    page = Page(api, api.tokens["bar"])
    shown = page.get("/", lang="en")
    assert 'href="/login"' not in shown.text.split("<main", 1)[1]
    assert 'class="button" href="/bar"' in shown.text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_unknown_page_is_a_page_in_the_readers_language(api: Api, lang: str) -> None:
    shown = api.client.get("/no-such-page", params={"lang": lang})
    assert shown.status_code == 404
    assert shown.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in shown.text
    assert gettext(lang, "Not found") in shown.text
    assert 'href="/"' in shown.text  # a way back
    assert shown.headers["Cache-Control"] == "no-store"


def test_the_language_is_remembered_for_error_pages(api: Api) -> None:
    page = Page(api)
    page.get("/", lang="ru")
    shown = page.client.get("/investigator/nothing-here")
    assert shown.status_code == 404
    assert '<html lang="ru">' in shown.text


def test_the_api_keeps_json_errors(api: Api) -> None:
    missing = api.client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = api.client.delete("/api/v1/requests")
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": "Method Not Allowed"}
    unknown = api.get("/api/v1/requests/0123456789abcdef0123456789abcdef", "investigator")
    assert unknown.status_code == 404
    assert "detail" in unknown.json()
    forbidden = api.post("/api/v1/registry/import", "investigator", {})
    assert forbidden.status_code == 403
    assert forbidden.json() == {"detail": "role investigator may not do this"}
    static = api.client.get("/static/no-such-file.css")
    assert static.status_code == 404
    assert static.headers["content-type"].startswith("application/json")


def test_a_page_answering_a_form_reopened_is_a_page_not_json(api: Api) -> None:
    page = Page(api, api.tokens["investigator"])
    shown = page.client.get("/logout", params={"lang": "az"})
    assert shown.status_code == 405
    assert shown.headers["content-type"].startswith("text/html")
    assert gettext("az", "This address cannot be opened") in shown.text
    assert "GET" not in shown.headers["allow"] and "POST" in shown.headers["allow"]
    # Signed in: the staff header, sign-out and the way back to the reader's own page.
    assert 'action="/logout"' in shown.text
    assert 'href="/investigator"' in shown.text


def test_another_roles_page_is_a_forbidden_page(api: Api) -> None:
    page = Page(api, api.tokens["investigator"])
    shown = page.client.get("/bar", params={"lang": "ru"})
    assert shown.status_code == 403
    assert shown.headers["content-type"].startswith("text/html")
    assert gettext("ru", "Not allowed") in shown.text
    assert 'href="/"' in shown.text  # the start page offers the reader's own page


def test_the_hand_over_page_survives_a_reload(api: Api) -> None:
    page = Page(api, api.tokens["investigator"])
    page.get("/investigator")
    path = page.post("/investigator/requests", FORM | {"external_ref": "INV-RELOAD"}).headers[
        "location"
    ]
    page.get(path)
    posted = page.post(f"{path}/choice-session", {})
    assert posted.status_code == 303
    tablet_cookie = posted.headers["set-cookie"]
    assert "HttpOnly" in tablet_cookie and f"Path={path}/tablet" in tablet_cookie
    assert "samesite=strict" in tablet_cookie.lower()

    def link() -> str:
        shown = page.get(f"{path}/tablet")
        assert shown.status_code == 200
        found = re.search(r'id="tablet-link" href="([^"]+)"', shown.text)
        assert found is not None
        return found.group(1)

    first = link()
    assert link() == first  # a reload shows the same link, and opens no other
    token = first.rsplit("/", 1)[1]
    assert api.client.get(f"/api/v1/tablet/{token}").status_code == 200
    # The old address of the page (a POST's answer) leads to it.
    old = page.client.get(f"{path}/choice-session")
    assert old.status_code == 303 and old.headers["location"] == f"{path}/tablet"

    # Another browser of the same investigator sees no link, only the way to a new one.
    other = Page(api, api.tokens["investigator"])
    elsewhere = other.get(f"{path}/tablet", lang="en")
    assert elsewhere.status_code == 200
    assert 'id="tablet-link"' not in elsewhere.text
    assert 'id="open-tablet"' in elsewhere.text
    # A copy of the cookie in another session shows nothing either (bound to its session).
    other.client.cookies.set("dispatcher_tablet", page.client.cookies["dispatcher_tablet"])
    assert 'id="tablet-link"' not in other.get(f"{path}/tablet").text

    # A new list supersedes the link: the page shows the new one.
    page.post(f"{path}/choice-session", {})
    second = link()
    assert second != first
    assert api.client.get(f"/api/v1/tablet/{token}").status_code == 410


def test_the_hand_over_page_is_the_own_requests_only(api: Api) -> None:
    page = Page(api, api.tokens["investigator"])
    page.get("/investigator")
    path = page.post("/investigator/requests", FORM | {"external_ref": "INV-MINE"}).headers[
        "location"
    ]
    stranger = Page(api, make_token(api.rt, "investigator", "Police Two", territory="CEN"))
    shown = stranger.get(f"{path}/tablet")
    assert shown.status_code == 404
    assert shown.headers["content-type"].startswith("text/html")


def _select(html: str, name: str) -> str:
    found = re.search(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert found is not None, name
    return found.group(1)


def test_the_form_offers_own_territories_and_their_places_by_name(api: Api) -> None:
    api.post("/api/v1/registry/import", "admin", with_places())
    page = Page(api, api.tokens["investigator"])
    territories = _select(page.get("/investigator", lang="ru").text, "territory")
    # Only the requester's own territory, by name; its code is the value sent.
    assert re.findall(r'<option value="([^"]*)"', territories) == ["CEN"]
    assert ">Центр</option>" in territories

    both = make_token(api.rt, "investigator", "Police Both", territories=["CEN", "NOR"])
    page = Page(api, both)
    html = page.get("/investigator", lang="en").text
    territories = _select(html, "territory")
    assert re.findall(r'<option value="([^"]*)"', territories) == ["CEN", "NOR"]
    assert ">Centre</option>" in territories and ">North</option>" in territories
    places = _select(html, "place")
    # Each territory's places under its name.
    assert '<optgroup label="Centre">' in places
    assert "CEN-POL" in places
    assert "NOR" not in territories.split(">North<")[1]

    anywhere = make_token(api.rt, "investigator", "Police Anywhere", any_territory=True)
    html = Page(api, anywhere).get("/investigator", lang="az").text
    assert re.findall(r'<option value="([^"]*)"', _select(html, "territory")) == ["CEN", "NOR"]


@pytest.mark.parametrize("lang", ["az", "ru"])
def test_a_spent_tablet_link_is_a_410_page_and_the_api_keeps_json(api: Api, lang: str) -> None:
    request_id = investigation(api, f"INV-SPENT-{lang}")
    token = tablet_token(api, request_id)
    assert api.post(f"/api/v1/tablet/{token}/choice", "investigator", {"delegate": True}).is_success
    # The receipt is shown for the policy's few minutes only; then the link is dead.
    shown_for = api.rt.policies.for_territory("CEN").choice.receipt_s
    with unit_of_work(api.rt.engine) as session:
        session.execute(
            update(Choice)
            .where(col(Choice.request_id) == request_id)
            .values(chosen_at=utcnow() - timedelta(seconds=shown_for + 1))
        )
    page = Page(api)
    for shown in (
        page.get(f"/tablet/{token}", lang=lang),
        page.post(f"/tablet/{token}/choice", {"delegate": "1", "lang": lang}),
    ):
        assert shown.status_code == 410
        assert shown.headers["content-type"].startswith("text/html")
        words = text_of(shown.text)
        # Said in the reader's language (and the others: nobody can switch on a dead link),
        # with the way back a suspect has: the tablet goes back to the investigator.
        assert gettext(lang, CLOSED) in words and gettext(lang, HAND_BACK) in words
        assert f'lang="{lang}"' in shown.text
    machine = api.client.get(f"/api/v1/tablet/{token}")
    assert machine.status_code == 410
    assert machine.headers["content-type"].startswith("application/json")
    assert machine.json() == {"detail": "this tablet link has already been used"}


GONE_PAGE = "/investigator/gone-for-a-test"
GONE_API = "/api/v1/gone-for-a-test"


@pytest.fixture
def gone_routes(api: Api) -> Api:
    """A page address and an API address whose handler finds its thing gone (the domain's 410),
    added to the running application: what any page does when a Gone escapes it."""

    def spent() -> None:
        raise Gone("this link has already been used")

    app = api.client.app
    assert isinstance(app, FastAPI)
    app.add_api_route(GONE_PAGE, spent, include_in_schema=False)
    app.add_api_route(GONE_API, spent, include_in_schema=False)
    return api


@pytest.mark.parametrize("lang", ["az", "ru"])
def test_a_gone_page_is_a_page_in_the_readers_language_with_a_way_back(
    gone_routes: Api, lang: str
) -> None:
    api = gone_routes
    stranger = api.client.get(GONE_PAGE, params={"lang": lang})
    assert stranger.status_code == 410
    assert stranger.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in stranger.text
    words = text_of(stranger.text)
    assert gettext(lang, "This link no longer works") in words
    assert gettext(lang, "Back to the start page") in words
    assert 'href="/"' in stranger.text and 'href="/login"' in stranger.text
    # Signed in: the staff header and the way back to the reader's own page.
    page = Page(api, api.tokens["investigator"])
    mine = page.get(GONE_PAGE, lang=lang)
    assert mine.status_code == 410
    assert gettext(lang, "Back to your page") in text_of(mine.text)
    assert 'href="/investigator"' in mine.text and 'action="/logout"' in mine.text
    # The API keeps JSON.
    machine = api.client.get(GONE_API, params={"lang": lang})
    assert machine.status_code == 410
    assert machine.json() == {"detail": "this link has already been used"}
