"""The bar's reports over HTTP: the JSON report and its schema, CSV tables, the flags, and the
/bar dashboard with its exports and drill-down (signed in with the page cookie)."""

from __future__ import annotations

import csv
import io
import re
import warnings
from html import unescape
from typing import Any

import pytest

from api.deps import PAGE_COOKIE
from api.pages.rendering import TRANSLATIONS, gettext
from dispatcher.db import unit_of_work, utcnow
from dispatcher.reports import render
from tests.dispatcher.test_flags import STEERED_LAWYER, history
from tests.support.clients import Api, make_token, page_session
from tests.support.flows import accept_and_close

REPORT_KEYS = {
    "max_abs_deviation",
    "loosemore_hanby",
    "gini",
    "top10_share",
    "top10_limit",
    "time_to_counsel",
    "position_choice_counts",
    "firms",
}


def orders(api: Api, n: int) -> list[str]:
    """`n` court orders, each accepted and closed by the invited lawyer; their ids."""
    ids = []
    for i in range(n):
        created = api.post("/api/v1/requests", "court", api.order(f"ORD-{i}")).json()
        with unit_of_work(api.rt.engine) as session:
            accept_and_close(session, api.rt, created["id"])
        ids.append(created["id"])
    return ids


def signed_in(api: Api, role: str) -> None:
    token = api.tokens.get(role) or make_token(api.rt, role)
    api.client.cookies.set(PAGE_COOKIE, page_session(api.rt, token))


def test_the_json_report_carries_every_figure_and_documents_it(api: Api) -> None:
    orders(api, 6)
    r = api.get("/api/v1/reports/fairness", "bar", territory="CEN")
    assert r.status_code == 200, r.text
    report = r.json()
    assert set(report) >= REPORT_KEYS
    assert report["decisions"] == 6
    assert {f["firm"]: f["offers"] for f in report["firms"]} == {"F1": 3, "F2": 2, "F3": 1}
    assert report["loosemore_hanby"] == pytest.approx(0.0, abs=1e-9)
    assert report["time_to_counsel"]["standard"]["assigned"] == 6
    assert report["time_to_counsel"]["detention"]["p50_s"] is None
    schema = api.client.get("/openapi.json").json()["components"]["schemas"]
    assert REPORT_KEYS | {"from"} <= set(schema["FairnessReport"]["properties"])
    assert {"p50_s", "p90_s", "p99_s"} <= set(schema["CounselTimes"]["properties"])
    assert set(schema["Flag"]["properties"]) == {
        "requester",
        "lawyer",
        "requests",
        "to_lawyer",
        "expected",
        "p_value",
        "q_value",
    }
    # A trailing window ending before the history holds nothing.
    empty = api.get(
        "/api/v1/reports/fairness", "bar", territory="CEN", window=30, to="2020-01-01T00:00:00"
    )
    assert empty.status_code == 200, empty.text
    empty = empty.json()
    assert empty["decisions"] == 0 and empty["from"].startswith("2019-12-02")
    assert api.get("/api/v1/reports/fairness", "bar", territory="CEN", window=7).status_code == 422


def test_every_table_exports_as_csv(api: Api) -> None:
    orders(api, 3)
    for table, first in (
        ("firms", "firm"),
        ("lawyers", "lawyer"),
        ("declines", "firm"),
        ("choices", "firm"),
        ("positions", "position"),
        ("time_to_counsel", "urgency"),
        ("flags", "requester"),
        ("territories", "territory"),
    ):
        r = api.get(f"/api/v1/reports/tables/{table}.csv", "bar", territory="CEN")
        assert r.status_code == 200, (table, r.text)
        assert r.headers["content-type"].startswith("text/csv")
        header = next(csv.reader(io.StringIO(r.text)))
        assert header[0] == first, table
    lawyers = list(
        csv.DictReader(
            io.StringIO(api.get("/api/v1/reports/tables/lawyers.csv", "bar", territory="CEN").text)
        )
    )
    assert sum(int(row["appointments"]) for row in lawyers) == 3
    assert api.get("/api/v1/reports/tables/nope.csv", "bar", territory="CEN").status_code == 404
    assert api.get("/api/v1/reports/tables/firms.csv", "court", territory="CEN").status_code == 403


def test_the_flags_endpoint_lists_the_steered_pair(api: Api) -> None:
    history(api.rt, steer=True)
    r = api.get("/api/v1/reports/flags", "bar", territory="CEN")
    assert r.status_code == 200, r.text
    [flag] = r.json()
    assert set(flag) == {
        "requester",
        "lawyer",
        "requests",
        "to_lawyer",
        "expected",
        "p_value",
        "q_value",
    }
    assert (flag["requester"], flag["lawyer"]) == ("Police A", STEERED_LAWYER)
    assert flag["q_value"] < 0.05
    assert api.get("/api/v1/reports/flags", "bar", territory="NOR").json() == []
    assert api.get("/api/v1/reports/flags", "investigator").status_code == 403

    signed_in(api, "bar")
    page = api.client.get("/bar", params={"territory": "CEN"})
    assert page.status_code == 200
    drill = re.search(r'href="(/bar/pairs\?[^"]+)"', page.text)
    assert drill is not None, "the flagged pair links to its requests"
    pair = api.client.get(drill.group(1).replace("&amp;", "&"))
    assert pair.status_code == 200
    audit_links = re.findall(r'href="(/bar/requests/\w+/audit)"', pair.text)
    assert len(audit_links) == flag["to_lawyer"]
    events = api.client.get(audit_links[0])
    assert events.status_code == 200
    for action in ("request.created", "choice.recorded", "invitation.accepted"):
        assert action in events.text


def test_the_dashboard_asks_for_a_bar_login(api: Api) -> None:
    r = api.client.get("/bar", params={"territory": "CEN"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fbar%3Fterritory%3DCEN"
    signed_in(api, "court")
    assert api.client.get("/bar", follow_redirects=False).status_code == 403
    api.client.cookies.set(PAGE_COOKIE, "not-a-token")
    assert api.client.get("/bar", follow_redirects=False).status_code == 303


def test_the_dashboard_and_its_exports(api: Api) -> None:
    ids = orders(api, 4)
    signed_in(api, "bar")
    page = api.client.get("/bar", params={"territory": "CEN", "window": "365"})
    assert page.status_code == 200, page.text
    # Two plots, as SVG images (the pages' style policy allows no inline style).
    assert page.text.count('src="data:image/svg+xml;base64,') == 2
    assert 'class="status-ok"' in page.text  # the firms are coloured by deviation
    assert "/bar/tables/firms.csv?" in page.text and "window=365" in page.text
    firms = api.client.get("/bar/tables/firms.csv", params={"territory": "CEN"})
    assert firms.status_code == 200 and firms.text.startswith("firm,weight,entitlement")

    html = api.client.get("/bar/report.html", params={"territory": "CEN"})
    assert html.status_code == 200
    assert "attachment" in html.headers["content-disposition"]
    body: Any = html.text
    assert body.count("<svg") == 4 and "<style>" in body
    # Self-contained: nothing is fetched from elsewhere, no navigation of the dashboard.
    assert not re.search(r"""(src|href)=["']?(https?:|//|/)""", body)
    assert "<link" not in body and "<script" not in body

    pdf = api.client.get("/bar/report.pdf", params={"territory": "CEN"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"

    audit = api.client.get(f"/bar/requests/{ids[0]}/audit")
    assert audit.status_code == 200 and "invitation.sent" in audit.text
    assert api.client.get("/bar/requests/nope/audit").status_code == 404
    assert api.client.get("/bar", params={"window": "12"}).status_code == 422


def test_the_report_routes_share_one_period_and_publish_their_answers(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    paths, schemas = document["paths"], document["components"]["schemas"]

    def query(path: str) -> list[tuple[str, bool]]:
        parameters = paths[path]["get"]["parameters"]
        return [(p["name"], p.get("required", False)) for p in parameters if p["in"] == "query"]

    period = [("from", False), ("to", False), ("window", False)]
    assert query("/api/v1/reports/fairness") == [("territory", True), *period]
    assert query("/api/v1/reports/fairness.csv") == [("territory", True), *period]
    assert query("/api/v1/reports/tables/{table}.csv") == [("territory", False), *period]
    assert query("/api/v1/reports/flags") == [("territory", False), *period]
    assert query("/api/v1/reports/territories") == period

    def answer(path: str) -> dict[str, Any]:
        schema: dict[str, Any] = paths[path]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
        schema = schema.get("items", schema)
        name = schema["$ref"].rsplit("/", 1)[-1]
        named: dict[str, Any] = schemas[name]["properties"]
        return named

    assert "firms" in answer("/api/v1/reports/fairness")
    assert "q_value" in answer("/api/v1/reports/flags")
    assert "loosemore_hanby" in answer("/api/v1/reports/territories")
    assert {"events", "next_after"} <= set(answer("/api/v1/audit"))
    assert {"ok", "events"} <= set(answer("/api/v1/audit/verify"))


def test_a_missing_territory_is_reported_before_a_bad_period(api: Api) -> None:
    # The period is resolved only once every parameter is valid, as when each route read it.
    r = api.get("/api/v1/reports/fairness", "bar", window=7)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", "territory"]]
    signed_in(api, "bar")
    r = api.client.get("/bar/report.html", params={"from": "not a date"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", "territory"]]
    r = api.client.get("/bar/report.html", params={"territory": "CEN", "from": "not a date"})
    assert r.status_code == 422 and r.json()["detail"].startswith("bad period")


def _headings(document: str) -> list[str]:
    return [
        unescape(re.sub(r"<[^>]+>", "", h)).strip()
        for h in re.findall(r"<h[12][^>]*>(.*?)</h[12]>", document, flags=re.S)
    ]


@pytest.mark.parametrize("language", ["ru", "az"])
def test_the_html_export_speaks_the_readers_language(api: Api, language: str) -> None:
    orders(api, 4)
    signed_in(api, "bar")
    english = api.client.get("/bar/report.html", params={"territory": "CEN", "lang": "en"})
    shown = api.client.get("/bar/report.html", params={"territory": "CEN", "lang": language})
    assert english.status_code == shown.status_code == 200, shown.text
    assert f'<html lang="{language}">' in shown.text
    assert language in shown.headers["content-disposition"]
    heard, read = _headings(english.text), _headings(shown.text)
    assert len(heard) == len(read) > 8
    # Every heading is the catalogue's, none of them is left in English.
    title = gettext(language, "Fairness report: %(territory)s")
    assert read[0] == title % {"territory": {"ru": "Центр", "az": "Mərkəz"}[language]}
    assert read[1:] == [gettext(language, h) for h in heard[1:]]
    assert set(read).isdisjoint(heard)
    # The dashboard's plain-language findings open the export, and the plots speak too.
    assert gettext(language, "What the figures say") in read
    assert gettext(language, "Within the rules") in shown.text
    assert gettext(language, "all other firms") not in english.text
    assert "Charged decisions" not in shown.text and "Summary" not in read
    # The dashboard's link to the export passes the page's language on.
    page = api.client.get("/bar", params={"territory": "CEN", "lang": language})
    assert f"/bar/report.pdf?territory=CEN&amp;lang={language}" in page.text


def test_the_pdf_export_in_russian_renders_its_words(api: Api) -> None:
    orders(api, 3)
    signed_in(api, "bar")
    with warnings.catch_warnings():
        # A glyph missing from the PDF's font is a warning of matplotlib: make it fail here.
        warnings.simplefilter("error", UserWarning)
        pdf = api.client.get("/bar/report.pdf", params={"territory": "CEN", "lang": "ru"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "-ru.pdf" in pdf.headers["content-disposition"]
    # The PDF's text page is built from these lines (no PDF text reader is a dependency).
    with unit_of_work(api.rt.engine) as session:
        full = render.gather(session, "CEN", None, None, utcnow())
    lines = render.pdf_lines(full, TRANSLATIONS["ru"].gettext)
    text = "\n".join(lines)
    assert lines[0] == gettext("ru", "Fairness report: %(territory)s") % {"territory": "CEN"}
    assert gettext("ru", "Time to counsel") in text and gettext("ru", "Decisions") in text
    assert not re.search(r"\b(Period|Decisions|Time to counsel|Flagged|appointments)\b", text)
    assert re.search("[а-я]{4}", text)
    assert lines != render.pdf_lines(full)


def test_the_exported_findings_name_lawyers_as_the_dashboard_does(api: Api) -> None:
    history(api.rt, steer=True)
    signed_in(api, "bar")
    shown = api.client.get("/bar/report.html", params={"territory": "CEN", "lang": "ru"})
    advice = shown.text.split('data-finding="flags"')[1].split("</li>")[0]
    assert gettext("ru", "What to do:") in advice
    # The names are markup of the page's own (a name with its code beside it), not escaped.
    assert f'<small class="code">{STEERED_LAWYER}</small>' in advice
    assert "&lt;" not in advice
