"""The bar's overview and territory pages in plain words, and the public page (no sign-in)."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from dispatcher.db import unit_of_work
from dispatcher.models import Appointment, Lawyer, Request
from dispatcher.reports import overview
from policies.optimum import b_star
from tests.api.test_reports import signed_in
from tests.dispatcher.test_flags import STEERED_LAWYER, history
from tests.support.clients import Api, make_token
from tests.support.flows import accept_and_close, open_request


def test_the_overview_names_territories_and_puts_the_flagged_one_first(api: Api) -> None:
    history(api.rt, steer=True)
    signed_in(api, "bar")
    for lang in ("az", "ru", "en"):
        page = api.client.get("/bar", params={"lang": lang})
        assert page.status_code == 200, page.text
        assert f'<html lang="{lang}">' in page.text
        assert "/logout" in page.text  # the staff header with its sign-out
    order = re.findall(r'data-territory="(\w+)" data-attention="(\w+)"', page.text)
    assert order[0] == ("CEN", "act")  # the steered pair is flagged there
    ranks = {"act": 0, "watch": 1, "good": 2, "quiet": 3}
    assert [ranks[a] for _, a in order] == sorted(ranks[a] for _, a in order)
    with unit_of_work(api.rt.engine) as session:
        names = overview.names(session)
    assert names["territories"]["CEN"]["en"] in page.text


def test_a_territory_says_what_its_figures_mean_and_names_the_flagged_lawyer(api: Api) -> None:
    history(api.rt, steer=True)
    signed_in(api, "bar")
    page = api.client.get("/bar", params={"territory": "CEN", "lang": "en"})
    assert page.status_code == 200
    with unit_of_work(api.rt.engine) as session:
        lawyer = session.exec(select(Lawyer).where(Lawyer.licence == STEERED_LAWYER)).one()
    flagged = re.search(r'data-finding="flags">(.*?)</li>', page.text, re.S)
    assert flagged is not None and "What to do:" in flagged.group(1)
    assert lawyer.name in flagged.group(1)
    assert " s<" not in page.text and " min" in page.text  # times in minutes, not seconds
    russian = api.client.get("/bar", params={"territory": "CEN", "lang": "ru"})
    assert "Что делать:" in russian.text


@pytest.mark.parametrize("steer", [False, True])
def test_a_territory_shows_the_furthest_firm_beside_the_least_any_rotation_keeps(
    api: Api, steer: bool
) -> None:
    history(api.rt, steer=steer)
    signed_in(api, "bar")
    report = api.get("/api/v1/reports/fairness", "bar", territory="CEN").json()
    weights = [f["weight"] for f in report["firms"] if f["weight"] > 0]
    assert len(weights) >= 2
    furthest = max(abs(f["deviation"]) for f in report["firms"])
    least = float(b_star(weights))
    for lang in ("az", "ru", "en"):
        page = api.client.get("/bar", params={"territory": "CEN", "lang": lang})
        said = re.search(r'data-figure="least">(.*?)</p>', page.text, re.S)
        assert said is not None, lang
        figures = re.findall(r"\d+\.\d\d", said.group(1))
        # The furthest firm first, then B* of the firms' sizes, computed here afresh.
        assert figures == [f"{furthest:.2f}", f"{least:.2f}"], lang
        if lang == "en":
            # Within B* it says so; beyond it, it names what the rest comes from.
            beyond = report["max_abs_deviation"] > report["optimum_deviation"]
            assert ("the rest comes from" in said.group(1)) == beyond
    # The two histories give one page of each kind (0.67 beyond B* = 0.50, and 0.33 within).
    assert (furthest > least) != steer


def test_a_few_appointments_spread_evenly_are_not_called_a_concentration(api: Api) -> None:
    # One court order, one appointment among CEN's six lawyers: three times k/n (1/2) would
    # flag it whoever took it, as a week's history was flagged in nearly every territory of the
    # demo. Spread as evenly as one appointment can be, the busiest lawyer takes all of it; the
    # finding stays green, and the page says why in each language.
    make_token(api.rt, "court", "Court One", territory="CEN")
    with unit_of_work(api.rt.engine) as session:
        accept_and_close(session, api.rt, open_request(session, api.rt, "C-1").id)
    signed_in(api, "bar")
    report = api.get("/api/v1/reports/fairness", "bar", territory="CEN").json()
    k, n = report["top10_lawyers"], report["listed_lawyers"]
    appointments = sum(r["appointments"] for r in report["lawyers"])
    assert 0 < appointments < n and k == 1
    assert report["top10_share"] > 3 * k / n  # over the Texas rule's three times k/n
    assert report["top10_limit"] == 1.0 and report["top10_exceeds"] is False
    said = {
        "en": f"With {appointments} appointments among {n} lawyers, even the evenest spread",
        "ru": f"При {appointments} назначениях на {n} адвокатов",
        "az": f"{n} vəkil arasında {appointments} təyinat olanda",
    }
    for lang, words in said.items():
        page = api.client.get("/bar", params={"territory": "CEN", "lang": lang})
        finding = re.search(r'data-finding="concentration">(.*?)</li>', page.text, re.S)
        assert finding is not None and words in finding.group(1), lang
        assert "status-ok" in page.text.split('data-finding="concentration"')[0][-80:], lang


@pytest.mark.parametrize("late", ["standard", "detention"])
def test_the_hour_to_counsel_counts_detained_people_only(api: Api, late: str) -> None:
    # A detained person and a person not detained each get a lawyer in CEN; one of them two
    # hours after the request. Only a detained person's wait makes the territory slow: the
    # other's deadline is hours (the overview said "Watch" beside a page that said 100%).
    make_token(api.rt, "court", "Court One", territory="CEN")
    with unit_of_work(api.rt.engine) as session:
        for urgency in ("standard", "detention"):
            request = open_request(session, api.rt, urgency, urgency=urgency)
            accept_and_close(session, api.rt, request.id)
            if urgency == late:
                appointment = session.exec(
                    select(Appointment).where(Appointment.request_id == request.id)
                ).one()
                appointment.opened_at = request.created_at + timedelta(hours=2)
                session.add(appointment)
    with unit_of_work(api.rt.engine) as session:
        [row] = [r for r in overview.national(session, None, None) if r["territory"] == "CEN"]
    assert (row["served"], row["detained_served"]) == (2, 1)
    assert row["within_hour"] == (1 if late == "standard" else 0)
    assert ("slow" in row["problems"]) is (late == "detention")
    signed_in(api, "bar")
    page = api.client.get("/bar", params={"lang": "en"}).text
    cells = re.search(r'data-territory="CEN".*?</tr>', page, re.S)
    assert cells is not None
    assert (">100%<" in cells.group(0)) is (late == "standard")


def test_the_dashboard_is_computed_once_per_version_of_the_record(api: Api) -> None:
    history(api.rt, steer=False)
    signed_in(api, "bar")
    overview.cache.clear()
    api.client.get("/bar", params={"territory": "CEN"})
    misses = overview.cache.misses
    api.client.get("/bar", params={"territory": "CEN"})
    assert overview.cache.misses == misses  # nothing changed: nothing computed again


def test_an_investigator_gets_the_bar_as_a_page_that_refuses(api: Api) -> None:
    signed_in(api, "investigator")
    refused = api.client.get("/bar", follow_redirects=False)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")


def test_the_public_page_shows_counts_withholds_small_ones_and_no_person(api: Api) -> None:
    history(api.rt, steer=True)
    page = api.client.get("/public", params={"lang": "en"})
    assert page.status_code == 200
    figures = api.client.get("/public.json").json()
    assert figures == {
        **api.client.get("/api/v1/public").json(),
        "generated_at": figures["generated_at"],
    }
    rows = figures["rows"]
    assert rows and all(
        r["requests"] is None or r["requests"] >= overview.SUPPRESS_BELOW for r in rows
    )
    assert any(r["requests"] is None for r in rows) or all(r["requests"] != 0 for r in rows)
    # The page, the JSON and the CSV say the same.
    table = list(csv.DictReader(io.StringIO(api.client.get("/public.csv").text)))
    assert [(r["territory"], r["month"]) for r in table] == [
        (r["territory"], r["month"]) for r in rows
    ]
    for row, line in zip(rows, table, strict=True):
        for key in ("requests", "served", "flags"):
            assert line[key] == ("<5" if row[key] is None else str(row[key]))
    shown = [r for r in rows if r["month"] == max(x["month"] for x in rows)]
    for row in shown:
        cell = re.search(
            rf'data-territory="{row["territory"]}">.*?</th>\s*<td>([^<]+)</td>', page.text, re.S
        )
        assert cell is not None
        assert cell.group(1) == ("&lt;5" if row["requests"] is None else str(row["requests"]))
    # No personal data: no lawyer's, person's or requester's name anywhere.
    with unit_of_work(api.rt.engine) as session:
        people = list(session.exec(select(Request.person_name)).all())
        lawyers = [
            n for row in session.exec(select(Lawyer.name, Lawyer.licence)).all() for n in row
        ]
    everything = page.text + api.client.get("/public.csv").text + str(figures)
    for name in {*people, *lawyers, "Police A", "Police B", STEERED_LAWYER}:
        assert name not in everything, name


def test_withheld_counts() -> None:
    assert [overview.withheld(n) for n in (0, 1, 4, 5, 9)] == [0, None, None, 5, 9]


def test_switching_language_stays_on_the_territory_and_period(api: Api) -> None:
    signed_in(api, "bar")
    page = api.client.get("/bar", params={"territory": "CEN", "window": "30", "lang": "en"})
    assert page.status_code == 200
    links = dict(re.findall(r'<a href="([^"]+)" lang="(az|ru|en)"', page.text))
    by_language = {lang: href.replace("&amp;", "&") for href, lang in links.items()}
    assert by_language["ru"] == "?territory=CEN&window=30&lang=ru"
    russian = api.client.get("/bar" + by_language["ru"])
    assert '<html lang="ru">' in russian.text and "CEN" in russian.text
