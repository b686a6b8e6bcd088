"""The rota pages through the real application: the admin plans and approves on the page, the
bar reads; the lawyer's duties, swaps, leave, and the calendar feed (parsed with icalendar)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from icalendar import Calendar
from sqlmodel import select

from dispatcher import audit
from dispatcher.db import unit_of_work
from dispatcher.models import CalendarFeed
from tests.api.test_pages import Page, text_of
from tests.support.clients import Api
from tests.support.rotas import ZONE, approved_rota

TODAY = datetime.now(ZONE).date()


def coming(days_ahead: int, hour: int) -> datetime:
    day = TODAY + timedelta(days=days_ahead)
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)


def lawyer_page(api: Api, licence: str) -> Page:
    api.auth(licence)
    return Page(api, api._lawyers[licence])


def test_the_admin_plans_and_approves_on_the_page_and_the_bar_only_reads(api: Api) -> None:
    admin = Page(api, api.tokens["admin"])
    listed = admin.get("/rotas", lang="en")
    assert listed.status_code == 200 and "Centre (CEN)" in listed.text
    first = (TODAY + timedelta(days=40)).isoformat()
    bad = admin.post("/rotas", {"territory": "XXX", "first_day": first, "days": "3"})
    assert bad.status_code == 422 and "Choose a territory" in text_of(bad.text)
    made = admin.post("/rotas", {"territory": "CEN", "first_day": first, "days": "3"})
    assert made.status_code == 303
    path = made.headers["location"]
    shown = admin.get(path)
    assert shown.status_code == 200
    assert 'data-approval="draft"' in shown.text
    text = text_of(shown.text)
    assert "First Bureau" in text and "Largest firm deviation" in text
    # The firms' table names the firms, and the period is given to the minute.
    firm_rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>', shown.text)
    assert {"First Bureau", "Second Bureau", "Third Bureau"} <= set(firm_rows)
    assert not {"F1", "F2", "F3"} & set(firm_rows)
    period = re.findall(r"<time datetime=[^>]+>([^<]+)</time>", shown.text)
    assert len(period) >= 2 and not any(re.search(r"\d:\d\d:\d\d", p) for p in period)
    assert len(re.findall(r'<td class="night">', shown.text)) == 3  # three nights
    bar = Page(api, api.tokens["bar"])
    read = bar.get(path, lang="ru")
    assert read.status_code == 200 and "Утвердить график" not in read.text
    assert "Графики дежурств" in read.text  # the header's link
    assert bar.post(f"{path}/approve", {}).status_code == 403
    assert admin.client.post(f"{path}/approve", data={"csrf": "x"}).status_code == 403
    approved = admin.post(f"{path}/approve", {})
    assert approved.status_code == 303
    assert 'data-approval="approved"' in admin.get(approved.headers["location"]).text
    again = admin.post(f"{path}/approve", {})
    assert again.status_code == 409 and "already approved" in again.text
    investigator = Page(api, api.tokens["investigator"])
    assert investigator.get(path).status_code == 403


def test_the_calendar_feed_lists_the_duties_and_a_new_link_revokes_the_old(api: Api) -> None:
    day, night = coming(3, 8), coming(4, 20)
    approved_rota(api.rt, [("L-11", day), ("L-11", night), ("L-21", coming(3, 20))])
    page = lawyer_page(api, "L-11")
    home = page.get("/lawyer", lang="en")
    assert home.status_code == 200
    assert len(re.findall(r'data-duty="\d+"', home.text)) == 2
    made = page.post("/lawyer/calendar", {})
    assert made.status_code == 200
    url = re.search(r'id="feed-url" type="text" readonly value="([^"]+)"', made.text)
    assert url is not None
    feed_path = url.group(1).replace("http://testserver", "").replace("&amp;", "&")
    with unit_of_work(api.rt.engine) as session:
        stored = session.exec(select(CalendarFeed)).one()
        token = feed_path.split("/")[-1].split(".ics")[0]
        assert token not in stored.token_hash and len(stored.token_hash) == 64
        assert "calendar_link_made" in [e.action for e in audit.trail(session)]
    got = api.client.get(feed_path)  # no sign-in
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/calendar")
    events = list(Calendar.from_ical(got.content).walk("VEVENT"))
    times = [(e.decoded("dtstart"), e.decoded("dtend")) for e in events]
    assert times == [
        (day, day + timedelta(hours=12)),
        (night, night + timedelta(hours=12)),
    ]
    assert all(start.utcoffset() == timedelta(hours=4) for start, _ in times)
    assert str(events[0]["summary"]) == "On duty: Centre"
    ru = api.client.get(feed_path.split("?")[0], params={"lang": "ru"})
    assert str(next(iter(Calendar.from_ical(ru.content).walk("VEVENT")))["summary"]) == (
        "Дежурство: Центр"
    )
    # A new link: the old one is 404 at once.
    page.get("/lawyer")
    renewed = page.post("/lawyer/calendar", {})
    assert renewed.status_code == 200
    assert api.client.get(feed_path).status_code == 404
    assert api.client.get("/lawyer/calendar/nonsense.ics").status_code == 404


def test_a_swap_and_a_leave_through_the_pages(api: Api) -> None:
    day = coming(5, 8)
    night = coming(6, 20)
    duties = approved_rota(api.rt, [("L-12", day), ("L-11", night)])
    giver = lawyer_page(api, "L-12")
    giver.get("/lawyer")
    offered = giver.post(f"/lawyer/duties/{duties['L-12', day]}/offer", {"colleague": "L-13"})
    assert offered.status_code == 303
    taker = lawyer_page(api, "L-13")
    home = taker.get("/lawyer", lang="en")
    swap_id = re.search(r'data-offer="([0-9a-f]+)"', home.text)
    assert swap_id is not None
    accepted = taker.post(f"/lawyer/swaps/{swap_id.group(1)}/accept", {})
    assert accepted.headers["location"] == "/lawyer?done=swap_accepted"
    assert f'data-duty="{duties["L-12", day]}"' in taker.get("/lawyer").text
    assert f'data-duty="{duties["L-12", day]}"' not in giver.get("/lawyer").text
    # A night offered to a lawyer who speaks no Russian is refused with the reason.
    russian = lawyer_page(api, "L-11")
    russian.get("/lawyer")
    russian.post(f"/lawyer/duties/{duties['L-11', night]}/offer", {"colleague": "L-12"})
    home = giver.get("/lawyer", lang="en")
    swap_id = re.search(r'data-offer="([0-9a-f]+)"', home.text)
    assert swap_id is not None
    refused = giver.post(f"/lawyer/swaps/{swap_id.group(1)}/accept", {})
    assert refused.headers["location"] == "/lawyer?done=swap_refused&problem=language"
    said = text_of(giver.get(refused.headers["location"]).text)
    assert "without a speaker of a required language" in said
    # Leave recorded after approval: the duty stays, and the page says it clashes.
    russian.get("/lawyer")
    first = (TODAY + timedelta(days=6)).isoformat()
    assert russian.post("/lawyer/leave", {"first": first, "last": first}).status_code == 303
    shown = russian.get("/lawyer", lang="en")
    assert f'data-duty="{duties["L-11", night]}"' in shown.text
    assert "Clashes with your availability: On your leave" in text_of(shown.text)
    bad = russian.post("/lawyer/leave", {"first": first, "last": "2000-01-01"})
    assert bad.status_code == 422 and "may not come before" in text_of(bad.text)
    assert russian.client.post("/lawyer/leave", data={"first": first}).status_code == 403
