"""Requesters stay in their lane (issue 13, item 3): a court or investigator files only in its
territories, a flood is stopped at the hourly limit and shown to the bar, and what a requester
reads of a decision tells nothing of other requests, conflicts or lawyers' statuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import SQLModel, func, select

from api.main import create_app
from dispatcher.db import unit_of_work
from dispatcher.models import AuditEvent, Invitation, Request, RequestRefusal
from dispatcher.runtime import Runtime
from tests.api.test_reports import signed_in
from tests.support.clients import Api, make_token
from tests.support.flows import runtime_at
from tests.support.policies import policy_text
from tests.support.registries import load_registry, small_registry

REQUESTS = "/api/v1/requests"
LIMIT = 3


def count(rt: Runtime, model: type[SQLModel], *where: Any) -> int:
    with unit_of_work(rt.engine) as session:
        n: int = session.exec(select(func.count()).select_from(model).where(*where)).one()
        return n


def written(rt: Runtime) -> tuple[int, int, int]:
    """Requests, invitations and audit events: what a refused request must not add to."""
    return count(rt, Request), count(rt, Invitation), count(rt, AuditEvent)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- territories -------------------------------------------------------------------------------


def test_a_requester_filing_outside_its_territories_is_403_naming_them(api: Api) -> None:
    before = written(api.rt)
    r = api.post(REQUESTS, "court", api.order("ORD-NOR", territory="NOR"))
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    assert "CEN" in detail and "NOR" in detail
    assert written(api.rt) == before
    with unit_of_work(api.rt.engine) as session:
        refusal = session.exec(select(RequestRefusal)).one()
        assert (refusal.territory, refusal.reason) == ("NOR", "outside_territories")
    # Its own territory still takes its requests, and a retry of a refused one stays refused.
    assert api.post(REQUESTS, "court", api.order("ORD-CEN")).status_code == 201
    assert api.post(REQUESTS, "court", api.order("ORD-NOR", territory="NOR")).status_code == 403
    # An investigator bound to CEN is refused the same way.
    r = api.post(
        REQUESTS,
        "investigator",
        api.order("INV-NOR", kind="investigation", territory="NOR"),
    )
    assert r.status_code == 403 and "NOR" in r.json()["detail"]


def test_several_territories_and_any_territory(api: Api) -> None:
    both = make_token(api.rt, "court", "Court Two", territories=["CEN", "NOR"])
    anywhere = make_token(api.rt, "court", "Circuit court", any_territory=True)
    for token, ref in ((both, "TWO"), (anywhere, "ANY")):
        for code in ("CEN", "NOR"):
            r = api.client.post(
                REQUESTS, json=api.order(f"{ref}-{code}", territory=code), headers=bearer(token)
            )
            assert r.status_code == 201, r.text
            assert r.json()["territory"] == code
    # An unknown territory is still the 422 naming the field, not a refusal.
    r = api.client.post(REQUESTS, json=api.order("ANY-X", territory="XXX"), headers=bearer(both))
    assert r.status_code == 422 and "territory" in r.text
    assert count(api.rt, RequestRefusal) == 0


def test_the_investigator_page_refuses_another_territory_and_writes_nothing(api: Api) -> None:
    signed_in(api, "investigator")
    page = api.client.get("/investigator")
    assert page.status_code == 200
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    form = {
        "csrf": csrf,
        "external_ref": "INV-PAGE-1",
        "case_number": "1(101)-9/2026",
        "territory": "NOR",
        "urgency": "detention",
        "category": "grave",
        "person_name": "Page Person",
        "person_language": "az",
    }
    before = written(api.rt)
    r = api.client.post("/investigator/requests", data=form, follow_redirects=False)
    assert r.status_code == 403, r.text
    assert "Bu ərazidə sorğu verə bilməzsiniz." in r.text  # the page speaks Azerbaijani
    assert written(api.rt) == before
    assert count(api.rt, RequestRefusal) == 1


# --- the hourly limit --------------------------------------------------------------------------


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Api]:
    rt = runtime_at(
        tmp_path / "limited.db",
        policy_text=policy_text(version="limited", hourly_limit_per_requester=LIMIT),
    )
    load_registry(rt, small_registry())
    try:
        with TestClient(create_app(runtime=rt)) as client:
            yield Api(client, rt, "CEN")
    finally:
        rt.stop()


def test_beyond_the_hourly_limit_is_429_with_retry_after_and_the_bar_is_told(
    limited: Api,
) -> None:
    api = limited
    for n in range(LIMIT):
        assert api.post(REQUESTS, "court", api.order(f"F-{n}")).status_code == 201
    before = written(api.rt)
    refused = api.post(REQUESTS, "court", api.order("F-over"))
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 3601
    assert "limit" in refused.json()["detail"]
    assert written(api.rt) == before
    # A retry of a request already filed is still answered: it adds nothing to the count.
    again = api.post(REQUESTS, "court", api.order("F-0"))
    assert again.status_code == 200, again.text
    # The limit is the requester's: another court files on.
    other = make_token(api.rt, "court", "Court Two", territory="CEN")
    r = api.client.post(REQUESTS, json=api.order("F-other"), headers=bearer(other))
    assert r.status_code == 201, r.text
    assert api.post(REQUESTS, "court", api.order("F-over-2")).status_code == 429

    with unit_of_work(api.rt.engine) as session:
        kept = session.exec(select(RequestRefusal)).all()
        assert [(k.territory, k.reason) for k in kept] == [("CEN", "hourly_limit")] * 2

    r = api.get("/api/v1/reports/fairness", "bar", territory="CEN")
    assert r.status_code == 200
    signed_in(api, "bar")
    report = api.client.get("/bar/report.html", params={"territory": "CEN", "lang": "en"})
    assert report.status_code == 200
    alert = report.text.split("<h2>Refused requests</h2>")[1].split("<h2>")[0]
    assert 'class="bad alert"' in alert
    assert "Court One (court)" in alert and "beyond its hourly limit" in alert
    assert "<td>2</td>" in alert
    dashboard = api.client.get("/bar", params={"territory": "CEN", "lang": "en"})
    finding = dashboard.text.split('data-finding="refused"')[1].split("</li>")[0]
    assert "beyond a requester's hourly limit" in finding and "Court One" in finding


def test_the_default_limit_lets_a_mass_detention_through() -> None:
    from policies.config import load_policy_book

    # A batch holds up to 500 requests and each counts: the default must leave room for one.
    assert load_policy_book().default.requests.hourly_limit_per_requester >= 500


# --- what a requester reads of a decision ------------------------------------------------------

CASE = "1(101)-77/2026"  # the small registry's case with a registered conflict (L-22)


@pytest.fixture
def conflicted(runtime: Runtime) -> Iterator[Api]:
    """The small registry with its only NOR lawyer (L-31, firm F3) suspended."""
    data = small_registry()
    (l31,) = [lw for lw in data["lawyers"] if lw["licence"] == "L-31"]
    l31["status"] = "suspended"
    load_registry(runtime, data)
    with TestClient(create_app(runtime=runtime)) as client:
        yield Api(client, runtime, "CEN")


def test_a_requester_reads_no_other_request_conflict_or_status_and_the_bar_reads_all(
    conflicted: Api,
) -> None:
    api = conflicted
    two = bearer(make_token(api.rt, "court", "Court Two", territory="CEN"))
    person_a = {"name": "Person A", "language": "az", "juvenile": False}
    person_b = {"name": "Person B", "language": "az", "juvenile": False}
    # Court One's order for A in the case: F2 is conflicted (L-22), F3's lawyer is suspended,
    # so F1 is invited and now defends A in this case.
    first = api.post(REQUESTS, "court", api.order("A-1", case_number=CASE, person=person_a))
    assert first.status_code == 201, first.text
    a_id = first.json()["id"]
    # Court Two's order for B in the same case: every firm is out, each for a reason it may
    # not read; and its order for A again is a possible duplicate of Court One's.
    b = api.client.post(
        REQUESTS, json=api.order("B-1", case_number=CASE, person=person_b), headers=two
    )
    assert b.status_code == 201, b.text
    b_id = b.json()["id"]
    dup = api.client.post(
        REQUESTS, json=api.order("A-2", case_number=CASE, person=person_a), headers=two
    )
    dup_id = dup.json()["id"]

    whole = api.get(f"{REQUESTS}/{b_id}/explanation", "bar")
    assert whole.status_code == 200
    secrets = (a_id, "registered victim_counsel of L-22", '"suspended"', '"conflict"')
    for item in secrets:
        assert item in whole.text, item
    assert api.get(f"{REQUESTS}/{b_id}/explanation", "admin").text == whole.text

    shown = api.client.get(f"{REQUESTS}/{b_id}/explanation", headers=two)
    assert shown.status_code == 200
    for item in (*secrets, "L-22 in this case", "victim_counsel"):
        assert item not in shown.text, item
    assert '"withheld"' in shown.text
    # The record still adds up: the same decisions, pools, firms and lawyers, reasons withheld.
    body, full = shown.json(), whole.json()
    assert [d["id"] for d in body["decisions"]] == [d["id"] for d in full["decisions"]]
    for mine, theirs in zip(body["decisions"], full["decisions"], strict=True):
        for pool, pool_whole in zip(mine["tried"], theirs["tried"], strict=True):
            assert [f["firm"] for f in pool["excluded_firms"]] == [
                f["firm"] for f in pool_whole["excluded_firms"]
            ]
            assert [lw["licence"] for lw in pool["excluded_lawyers"]] == [
                lw["licence"] for lw in pool_whole["excluded_lawyers"]
            ]

    # The audit of the duplicate: the bar sees Court One's request, Court Two does not.
    def created(who: dict[str, str] | str) -> dict[str, Any]:
        r = (
            api.get("/api/v1/audit", who, request_id=dup_id)
            if isinstance(who, str)
            else api.client.get("/api/v1/audit", params={"request_id": dup_id}, headers=who)
        )
        assert r.status_code == 200, r.text
        (event,) = [e for e in r.json()["events"] if e["action"] == "request.created"]
        return dict(event)

    assert created("bar")["payload"]["possible_duplicate_of"] == [a_id]
    assert created("bar")["redacted"] is False
    theirs = created(two)
    assert theirs["payload"]["possible_duplicate_of"] == []
    assert theirs["redacted"] is True
    audit_text = api.client.get("/api/v1/audit", params={"request_id": b_id}, headers=two).text
    assert a_id not in audit_text and "victim_counsel" not in audit_text


def test_a_requester_still_reads_its_own_earlier_request_as_a_possible_duplicate(
    api: Api,
) -> None:
    person = {"name": "Same Person", "language": "az", "juvenile": False}
    first = api.post(REQUESTS, "court", api.order("S-1", person=person, case_number="2/2026"))
    again = api.post(REQUESTS, "court", api.order("S-2", person=person, case_number="2/2026"))
    r = api.get("/api/v1/audit", "court", request_id=again.json()["id"])
    (event,) = [e for e in r.json()["events"] if e["action"] == "request.created"]
    assert event["payload"]["possible_duplicate_of"] == [first.json()["id"]]
    assert event["redacted"] is False
