"""The pages with places and contacts: the investigator names the place and whom to call, the
lawyer sees them with the person's name and gives a time to arrive, the investigator sees the
appointed lawyer's name and telephone and can cancel."""

from __future__ import annotations

import re

from sqlmodel import select

from api.pages.rendering import gettext
from dispatcher.db import unit_of_work
from dispatcher.models import Request
from tests.api.test_pages import FORM, Page, text_of
from tests.api.test_places import CEN_POLICE, with_places
from tests.support.clients import Api

CONTACT = {"contact_name": "Leytenant Orxan Quliyev", "contact_phone": "+994 55 410 20 30"}


def _open(api: Api, page: Page, **extra: str) -> str:
    page.get("/investigator")
    opened = page.post("/investigator/requests", FORM | extra)
    assert opened.status_code == 303, opened.text
    return str(opened.headers["location"])


def test_the_investigator_names_the_place_and_whom_to_call(api: Api) -> None:
    api.post("/api/v1/registry/import", "admin", with_places())
    page = Page(api, api.tokens["investigator"])
    home = page.get("/investigator", lang="en")
    select_html = re.search(r'<select id="place" name="place">(.*?)</select>', home.text, re.S)
    assert select_html is not None
    # The territory's places alone (NOR's court is not offered), and "not given".
    assert re.findall(r'<option value="([^"]*)"', select_html.group(1)) == ["", "CEN-POL"]
    assert CEN_POLICE["name"]["en"] in select_html.group(1)  # type: ignore[index]
    assert 'name="contact_name"' in home.text and 'name="contact_phone"' in home.text

    path = _open(api, page, place="CEN-POL", **CONTACT)
    with unit_of_work(api.rt.engine) as session:
        stored = session.exec(select(Request)).one()
        assert stored.place_id is not None
        assert (stored.contact_name, stored.contact_phone) == tuple(CONTACT.values())
    assert path == f"/investigator/requests/{stored.id}"
    # The request's own page says where the lawyer is to come and whom to call, in Russian.
    shown = text_of(page.get(path, lang="ru").text)
    assert CEN_POLICE["name"]["ru"] in shown  # type: ignore[index]
    assert str(CEN_POLICE["address"]) in shown
    assert gettext("ru", "Whom to call") in shown and CONTACT["contact_name"] in shown


def test_a_bad_place_or_phone_is_marked_on_the_form_and_writes_nothing(api: Api) -> None:
    api.post("/api/v1/registry/import", "admin", with_places())
    page = Page(api, api.tokens["investigator"])
    page.get("/investigator", lang="en")
    for extra, field in (
        ({"place": "NOR-CRT"}, "place"),
        ({"contact_name": "Officer", "contact_phone": "call the desk"}, "contact_phone"),
        ({"contact_phone": "+994 55 410 20 30"}, "contact_name"),
    ):
        refused = page.post("/investigator/requests", FORM | extra)
        assert refused.status_code == 422, (extra, refused.text)
        assert f'id="{field}-error"' in refused.text, extra
    with unit_of_work(api.rt.engine) as session:
        assert session.exec(select(Request)).all() == []


def test_the_lawyer_page_shows_where_whom_and_the_person_and_takes_a_time(api: Api) -> None:
    api.post("/api/v1/registry/import", "admin", with_places())
    contact = {"name": "Kapitan Rauf Məmmədov", "phone": "+994 50 321 54 76"}
    order = api.post(
        "/api/v1/requests", "court", api.order("ORD-WHERE", place="CEN-POL", contact=contact)
    ).json()
    invitation = order["invitation"]
    lawyer = Page(api, api.auth(invitation["lawyer"])["Authorization"][7:])
    for lang in ("az", "ru", "en"):
        shown = text_of(lawyer.get("/lawyer", lang=lang).text)
        assert CEN_POLICE["name"][lang] in shown  # type: ignore[index]
        assert gettext(lang, "Police station") in shown
        assert str(CEN_POLICE["address"]) in shown
        assert contact["name"] in shown and contact["phone"] in shown
        assert "Person ORD-WHERE" in shown
    html = lawyer.get("/lawyer").text
    assert 'href="tel:+994503215476"' in html
    url = f"/lawyer/invitations/{invitation['id']}/accept"
    bad = lawyer.post(url, {"eta_minutes": "0"})
    assert bad.status_code == 422
    assert gettext(
        "en", "Give the time to get there as a whole number of minutes, from 1 to 1440."
    ) in text_of(bad.text)
    accepted = lawyer.post(url, {"eta_minutes": "35"})
    assert accepted.status_code == 303, accepted.text
    appointment = api.get(f"/api/v1/requests/{order['id']}", "court").json()["appointment"]
    assert appointment["eta_minutes"] == 35


def test_the_investigator_sees_the_lawyer_by_name_and_phone_and_cancels(api: Api) -> None:
    api.post("/api/v1/registry/import", "admin", with_places())
    page = Page(api, api.tokens["investigator"])
    path = _open(api, page)
    request_id = path.rsplit("/", 1)[1]
    before = page.get(path, lang="en").text
    assert 'id="cancel-request"' in before and "data-confirm=" in before
    # The suspect lets the system choose; the invited lawyer accepts with a time.
    token = api.post(f"/api/v1/requests/{request_id}/choice-sessions", "investigator").json()
    chosen = api.client.post(f"/api/v1/tablet/{token['token']}/choice", json={"delegate": True})
    invitation = chosen.json()["invitation"]
    accepted = api.post(
        f"/api/v1/invitations/{invitation['id']}/accept", invitation["lawyer"], {"eta_minutes": 25}
    )
    assert accepted.status_code == 200
    lawyer = api.get(f"/api/v1/registry/lawyers/{invitation['lawyer']}", "bar").json()
    firm = api.get(f"/api/v1/registry/firms/{invitation['firm']}", "bar").json()
    shown = page.get(path, lang="en")
    visible = text_of(shown.text)
    assert f"{lawyer['name']}, {lawyer['licence']} ({firm['name']})" in visible
    assert lawyer["phone"] in visible
    assert f'href="tel:{lawyer["phone"].replace(" ", "")}"' in shown.text
    assert gettext("en", "Can be there in %(minutes)s minutes") % {"minutes": 25} in visible

    # Cancelling needs the form's token, then does what the API does.
    assert page.client.post(f"{path}/cancel", data={}).status_code == 403
    cancelled = page.post(f"{path}/cancel", {})
    assert cancelled.status_code == 303
    assert cancelled.headers["location"] == f"{path}?done=cancelled"
    after = api.get(f"/api/v1/requests/{request_id}", "investigator").json()
    assert after["status"] == "cancelled"
    assert after["appointment"]["closed"] is True
    final = page.get(f"{path}?done=cancelled", lang="en").text
    assert 'id="cancel-request"' not in final
    again = page.post(f"{path}/cancel", {})
    assert again.status_code == 409
    assert gettext("en", "This request can no longer be cancelled.") in again.text
