"""The investigator's list of detainees of one case and place: pasted lines or a CSV file, filed
all or nothing through the batch's logic, each result shown, every problem naming its line."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlmodel import col, func, select

from api.pages.investigator import parse_detainees
from api.pages.rendering import gettext
from dispatcher.db import unit_of_work
from dispatcher.models import Request
from tests.api.test_pages import Page, text_of
from tests.api.test_places import with_places
from tests.support.clients import Api

CASE = {
    "external_ref": "INV-MASS-1",
    "case_number": "1(101)-77/2026",
    "territory": "CEN",
    "urgency": "detention",
    "category": "grave",
    "place": "CEN-POL",
}
LINES = "Anar Məmmədov; az; no\nIvan Petrov; ru\n\nLeyla Həsənova; az; yes\n"


def requests_count(api: Api) -> int:
    with unit_of_work(api.rt.engine) as session:
        return int(session.exec(select(func.count()).select_from(Request)).one())


def submit(page: Page, data: dict[str, Any], csv_file: bytes | None = None) -> httpx.Response:
    files = {"detainees_file": ("list.csv", csv_file, "text/csv")} if csv_file else None
    return page.client.post(
        "/investigator/detainees", data={"csrf": page.csrf, **data}, files=files
    )


def signed_in(api: Api) -> Page:
    api.post("/api/v1/registry/import", "admin", with_places())
    page = Page(api, api.tokens["investigator"])
    shown = page.get("/investigator/detainees", lang="en")
    assert shown.status_code == 200
    assert 'enctype="multipart/form-data"' in shown.text
    return page


def test_pasted_lines_file_one_request_each_and_the_page_shows_them(api: Api) -> None:
    page = signed_in(api)
    posted = submit(page, CASE | {"detainees": LINES})
    assert posted.status_code == 303, text_of(posted.text)
    target = posted.headers["location"]
    assert target == "/investigator/detainees/filed?ref=INV-MASS-1"
    with unit_of_work(api.rt.engine) as session:
        filed = session.exec(select(Request).order_by(col(Request.external_ref))).all()
        assert [
            (r.external_ref, r.person_name, r.person_language, r.person_juvenile) for r in filed
        ] == [
            ("INV-MASS-1-1", "Anar Məmmədov", "az", False),
            ("INV-MASS-1-2", "Ivan Petrov", "ru", False),
            ("INV-MASS-1-3", "Leyla Həsənova", "az", True),
        ]
        assert {r.case_number for r in filed} == {CASE["case_number"]}
        assert {r.status for r in filed} == {"awaiting_choice"}

    shown = page.get(f"{target}&lang=en")
    assert shown.status_code == 200
    rows = re.findall(r"<tr>\s*<td>(\d+)</td>\s*<td>([^<]+)</td>", shown.text)
    assert rows == [("1", "Anar Məmmədov"), ("2", "Ivan Petrov"), ("3", "Leyla Həsənova")]
    assert shown.text.count('data-status="awaiting_choice"') == 3

    # The same list again is a retry: the same requests, nothing new.
    again = submit(page, CASE | {"detainees": LINES})
    assert again.status_code == 303
    assert requests_count(api) == 3


def test_a_csv_file_with_a_header_files_the_same(api: Api) -> None:
    page = signed_in(api)
    csv_file = "name,language,juvenile\r\nAnar Məmmədov,az,no\r\nIvan Petrov,ru,да\r\n".encode()
    posted = submit(page, CASE | {"external_ref": "INV-CSV"}, csv_file)
    assert posted.status_code == 303, text_of(posted.text)
    with unit_of_work(api.rt.engine) as session:
        filed = session.exec(select(Request).order_by(col(Request.external_ref))).all()
        assert [(r.person_name, r.person_juvenile) for r in filed] == [
            ("Anar Məmmədov", False),
            ("Ivan Petrov", True),
        ]


def test_bad_lines_are_named_and_nothing_is_filed(api: Api) -> None:
    page = signed_in(api)
    lines = "Anar Məmmədov; az; no\n; ru; no\nIvan Petrov; russian; no\nOleg; ru; maybe\n"
    posted = submit(page, CASE | {"detainees": lines})
    assert posted.status_code == 422
    problems = re.findall(r"<li>([^<]+)</li>", posted.text.split('id="line-problems"')[1])
    assert problems[:3] == [
        gettext("en", "Line %(line)s: %(problem)s")
        % {"line": line, "problem": gettext("en", problem)}
        for line, problem in (
            (2, "the name is missing or too long"),
            (3, "the language must be a two-letter code such as az, ru or en"),
            (4, "the third column must say yes or no (a minor or not)"),
        )
    ]
    assert requests_count(api) == 0
    # The form keeps what was typed.
    assert "Oleg; ru; maybe" in posted.text


def test_russian_reader_reads_the_problems_in_russian(api: Api) -> None:
    page = signed_in(api)
    page.get("/investigator/detainees", lang="ru")
    posted = submit(page, CASE | {"detainees": "Oleg; ru; maybe"})
    assert posted.status_code == 422
    expected = gettext("ru", "Line %(line)s: %(problem)s") % {
        "line": 1,
        "problem": gettext("ru", "the third column must say yes or no (a minor or not)"),
    }
    assert expected in posted.text


def test_a_reference_used_for_another_request_names_its_line(api: Api) -> None:
    page = signed_in(api)
    assert submit(page, CASE | {"detainees": "Anar Məmmədov; az"}).status_code == 303
    changed = submit(page, CASE | {"detainees": "Somebody Else; az\nIvan Petrov; ru"})
    assert changed.status_code == 409
    assert (
        gettext("en", "Line %(line)s: %(problem)s")
        % {
            "line": 1,
            "problem": gettext("en", "its reference was already used for a different request"),
        }
        in changed.text
    )
    assert requests_count(api) == 1  # all or nothing: Ivan Petrov was not filed either


def test_the_case_fields_are_checked_like_the_single_form(api: Api) -> None:
    page = signed_in(api)
    posted = submit(page, CASE | {"case_number": "", "detainees": LINES})
    assert posted.status_code == 422
    assert (
        'id="case_number" name="case_number" value="" required autocomplete="off" '
        'aria-invalid="true"' in posted.text
    )
    wrong_place = submit(page, CASE | {"place": "NOR-CRT", "detainees": LINES})
    assert wrong_place.status_code == 422
    assert 'id="place" name="place" aria-invalid="true"' in wrong_place.text
    outside = submit(page, CASE | {"territory": "NOR", "place": "", "detainees": LINES})
    assert outside.status_code == 403
    assert gettext("en", "You may not file requests in this territory.") in outside.text
    assert submit(page, CASE | {"detainees": "  \n"}).status_code == 422
    assert requests_count(api) == 0


def test_a_list_is_pasted_or_a_file_not_both(api: Api) -> None:
    page = signed_in(api)
    both = submit(page, CASE | {"detainees": LINES}, b"Anar,az,no\n")
    assert both.status_code == 422
    assert gettext("en", "Give the list either pasted or as a file, not both.") in both.text
    binary = submit(page, CASE, b"\xff\xfe\x00bad")
    assert binary.status_code == 422
    assert requests_count(api) == 0


def test_parsing_keeps_the_line_numbers_of_the_text() -> None:
    people, problems = parse_detainees(
        "\nA One; ru; yes\n\nB Two\nC; az; no; extra\n", from_file=False
    )
    assert [(p.line, p.name, p.language, p.juvenile) for p in people] == [
        (2, "A One", "ru", True),
        (4, "B Two", "az", False),
    ]
    assert [p.line for p in problems] == [5]
    people, _ = parse_detainees("Name;Language\nA One;ru\n", from_file=True)
    assert [(p.line, p.name) for p in people] == [(2, "A One")]


def test_the_list_is_the_investigators_alone(api: Api) -> None:
    page = signed_in(api)
    submit(page, CASE | {"detainees": LINES})
    court = Page(api, api.tokens["court"])
    assert court.client.get("/investigator/detainees").status_code == 403
    assert court.client.get("/investigator/detainees/filed?ref=INV-MASS-1").status_code == 403
    stranger = Page(api)
    assert stranger.client.get("/investigator/detainees").status_code == 303  # to sign in
    assert page.client.get("/investigator/detainees/filed?ref=NOPE").status_code == 404
