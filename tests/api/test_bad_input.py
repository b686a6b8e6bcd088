"""Bad input is a 422 naming the field, never a server error, and no answer echoes it whole.

Each input here gave a 500 once: a lone surrogate in a JSON string, times at the far ends of
the calendar, a sequence number beyond 64 bits. The test client re-raises a server error, so
each of these tests fails loudly if one comes back. The audit verification, too, reports a
stored row that no longer parses as a broken link instead of failing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import func, select

from api.deps import PAGE_COOKIE
from dispatcher.db import unit_of_work
from dispatcher.models import Lawyer, Request
from dispatcher.registry import RegistryFile
from tests.support import backends
from tests.support.clients import Api, page_session
from tests.support.registries import small_registry

LONE_SURROGATE = "\ud800"
ROOT = Path(__file__).resolve().parents[2]


def sent_as_json(api: Api, path: str, who: str, body: Any) -> Any:
    """POST `body` as the JSON text a client writes (a lone surrogate becomes `\\ud800`)."""
    raw = json.dumps(body)
    assert "\\ud800" in raw or LONE_SURROGATE not in str(body)
    headers = {**api.auth(who), "Content-Type": "application/json"}
    return api.client.post(path, content=raw.encode("ascii"), headers=headers)


def locs(response: Any) -> list[list[str | int]]:
    return [error["loc"] for error in response.json()["detail"]]


def count(api: Api, model: type[Request] | type[Lawyer]) -> int:
    with unit_of_work(api.rt.engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


# --- a lone surrogate in a JSON string ---------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "loc"),
    [
        ("name", ["body", "person", "name"]),
        ("external_ref", ["body", "external_ref"]),
        ("case_number", ["body", "case_number"]),
    ],
)
def test_a_lone_surrogate_in_a_request_is_422_naming_the_field(
    api: Api, field: str, loc: list[str]
) -> None:
    body = api.order("SUR-1")
    if field == "name":
        body["person"]["name"] = f"Ali {LONE_SURROGATE}"
    else:
        body[field] = f"X{LONE_SURROGATE}"
    r = sent_as_json(api, "/api/v1/requests", "court", body)
    assert r.status_code == 422, r.text
    assert loc in locs(r)
    assert count(api, Request) == 0


def test_a_lone_surrogate_in_a_registry_import_is_422_naming_the_field(api: Api) -> None:
    data = small_registry()
    before = count(api, Lawyer)
    data["territories"][0]["name"]["az"] = LONE_SURROGATE
    data["lawyers"][1]["name"] = f"Name {LONE_SURROGATE}"
    r = sent_as_json(api, "/api/v1/registry/import", "admin", data)
    assert r.status_code == 422, r.text
    assert ["body", "territories", 0, "name", "az"] in locs(r)
    assert ["body", "lawyers", 1, "name"] in locs(r)
    assert count(api, Lawyer) == before


def test_a_lone_surrogate_in_a_field_name_is_422(api: Api) -> None:
    body = api.order("SUR-2")
    body[f"extra{LONE_SURROGATE}"] = 1
    r = sent_as_json(api, "/api/v1/requests", "court", body)
    assert r.status_code == 422
    assert r.json()["detail"]


# --- times and numbers beyond what the service computes with -----------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/reports/fairness",
        "/api/v1/reports/fairness.csv",
        "/api/v1/reports/flags",
        "/api/v1/reports/territories",
    ],
)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"window": "30", "to": "0001-01-01"}, "to"),
        ({"to": "9999-12-31T23:59:59-01:00"}, "to"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
    ],
)
def test_a_report_period_off_the_calendar_is_422_naming_the_field(
    api: Api, path: str, params: dict[str, str], field: str
) -> None:
    r = api.get(path, "bar", territory="CEN", **params)
    assert r.status_code == 422, r.text
    assert ["query", field] in locs(r)


def test_a_trailing_window_still_ends_at_an_ordinary_to(api: Api) -> None:
    r = api.get("/api/v1/reports/fairness", "bar", territory="CEN", window=30, to="2026-01-31")
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("after", ["99999999999999999999", str(2**63 - 1), str(2**31)])
def test_an_audit_page_after_a_number_beyond_the_column_is_422(api: Api, after: str) -> None:
    r = api.get("/api/v1/audit", "bar", after=after)
    assert r.status_code == 422
    assert locs(r) == [["query", "after"]]
    assert api.get("/api/v1/audit", "bar", after=str(2**31 - 1)).status_code == 200


@pytest.mark.parametrize("before", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00"])
def test_requests_before_a_time_off_the_calendar_is_422(api: Api, before: str) -> None:
    r = api.get("/api/v1/requests", "bar", before=before)
    assert r.status_code == 422, r.text
    assert locs(r) == [["query", "before"]]
    assert api.get("/api/v1/requests", "bar", before="2026-01-01T00:00:00+01:00").status_code == 200


def test_the_dashboard_answers_a_period_off_the_calendar_with_422(api: Api) -> None:
    api.client.cookies.set(PAGE_COOKIE, page_session(api.rt, api.tokens["bar"]))
    r = api.client.get("/bar", params={"to": "0001-01-01", "window": "30"})
    assert r.status_code == 422
    assert "to" in r.text
    long_junk = "x" * 5000
    r = api.client.get("/bar/report.html", params={"territory": "CEN", "from": long_junk})
    assert r.status_code == 422
    assert "from" in r.text and long_junk[:100] not in r.text


# --- the registry import: bounded lists, short answers ----------------------------------------


def test_an_oversized_registry_list_is_refused_with_a_short_answer(api: Api) -> None:
    before = count(api, Lawyer)
    r = sent_as_json(api, "/api/v1/registry/import", "admin", {"lawyers": [{}] * 50_001})
    assert r.status_code == 422
    assert locs(r) == [["body", "lawyers"]]
    assert r.json()["detail"][0]["type"] == "too_long"
    assert len(r.content) < 2_000
    assert count(api, Lawyer) == before


def test_a_national_registry_fits_the_bounds() -> None:
    """Fifty thousand lawyers are within bounds: only the items' own faults are reported."""
    with pytest.raises(ValidationError) as raised:
        RegistryFile.model_validate({"lawyers": [{}] * 50_000, "firms": [{}] * 10_000})
    assert "too_long" not in {e["type"] for e in raised.value.errors()}


def test_many_invalid_items_give_a_short_answer_that_echoes_only_excerpts(api: Api) -> None:
    long_name = "N" * 1_000
    lawyer = {"licence": "L-1", "name": long_name, "firm": "F", "territories": ["CEN"]}
    r = sent_as_json(api, "/api/v1/registry/import", "admin", {"lawyers": [lawyer] * 300})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert len(r.content) < 10_000
    assert detail[0]["loc"] == ["body", "lawyers", 0, "name"]
    assert long_name[:100] not in r.text
    assert detail[-1]["type"] == "too_many_errors"
    assert detail[-1]["msg"].startswith("and ")


# --- the audit verification reads a tampered row defensively ----------------------------------


@pytest.mark.parametrize("stored", ["garbage", "2026-13-45 25:61:00.000000", 12345, ""])
def test_verification_reports_a_stored_time_that_no_longer_parses(
    api: Api, tmp_path: Path, stored: str | int
) -> None:
    created = api.post("/api/v1/requests", "court", api.order("AUD-1"))
    assert created.status_code == 201
    ok = api.get("/api/v1/audit/verify", "bar").json()
    assert ok["ok"] is True and ok["events"] >= 2
    if backends.on_postgres():
        # PostgreSQL's timestamp column refuses such a value: the corruption cannot be stored.
        with pytest.raises(DBAPIError), api.rt.engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET at = :v WHERE seq = 2"), {"v": stored})
        assert api.get("/api/v1/audit/verify", "bar").json()["ok"] is True
        return
    with api.rt.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET at = :v WHERE seq = 2"), {"v": stored})
    result = api.get("/api/v1/audit/verify", "bar").json()
    assert result["ok"] is False
    assert result["first_bad"]["seq"] == 2
    assert result["events"] == 1
    env = {**os.environ, "DISPATCHER_DATABASE_URL": api.rt.settings.database_url}
    cli = subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "audit", "verify"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 1, (cli.stdout, cli.stderr)
    assert json.loads(cli.stdout)["first_bad"]["seq"] == 2
