"""`POST /api/v1/requests/batch` (issue 15, part 1): validation by index, all or nothing,
idempotency item by item, the requester's lane per item, and the batch's decisions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.main import create_app
from dispatcher.db import unit_of_work
from dispatcher.models import Invitation, RequestRefusal
from tests.api.test_lane import count, written
from tests.support.clients import Api
from tests.support.flows import runtime_at
from tests.support.policies import policy_text
from tests.support.registries import load_registry, small_registry

BATCH = "/api/v1/requests/batch"


def orders(api: Api, refs: list[str], **over: Any) -> dict[str, Any]:
    return {"requests": [api.order(ref, **over) for ref in refs]}


def test_a_batch_of_court_orders_is_decided_together_and_answered_in_order(api: Api) -> None:
    body = orders(api, ["B-1", "B-2", "B-3"], case_number="1(101)-55/2026")
    # Three co-defendants: three lawyers of three firms.
    r = api.post(BATCH, "court", body)
    assert r.status_code == 201, r.text
    answered = r.json()["requests"]
    assert [a["external_ref"] for a in answered] == ["B-1", "B-2", "B-3"]
    assert all(a["status"] == "inviting" for a in answered)
    with unit_of_work(api.rt.engine) as session:
        invited = session.exec(select(Invitation)).all()
        assert len({i.lawyer_id for i in invited}) == 3
        assert len({i.firm_id for i in invited}) == 3
    explanation = api.get(f"/api/v1/requests/{answered[0]['id']}/explanation", "court").json()
    decision = explanation["decisions"][0]
    assert decision["batch"]["size"] == 3 and decision["batch"]["assigned"] == 3
    assert decision["rule"]["name"] == "batch_min_cost_flow"
    assert decision["note"] == "decided in a batch of 3"


def test_an_invalid_item_is_422_naming_its_index_and_field_and_nothing_is_written(
    api: Api,
) -> None:
    before = written(api.rt)
    body = orders(api, ["V-0", "V-1", "V-2", "V-3"])
    body["requests"][3]["person"]["name"] = ""
    r = api.post(BATCH, "court", body)
    assert r.status_code == 422, r.text
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["body", "requests", 3, "person", "name"] in locs
    # A place unknown to the territory is found only by the domain: the same shape, its index.
    body = orders(api, ["V-0", "V-1", "V-2"])
    body["requests"][2]["place"] = "NOWHERE"
    r = api.post(BATCH, "court", body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "requests", 2, "place"]
    assert written(api.rt) == before
    # Too many items, or none.
    assert api.post(BATCH, "court", orders(api, [f"M-{i}" for i in range(501)])).status_code == 422
    assert api.post(BATCH, "court", {"requests": []}).status_code == 422
    assert written(api.rt) == before


def test_idempotency_item_by_item_200_201_409(api: Api) -> None:
    first = api.post(BATCH, "court", orders(api, ["I-1", "I-2"]))
    assert first.status_code == 201
    ids = [a["id"] for a in first.json()["requests"]]
    again = api.post(BATCH, "court", orders(api, ["I-1", "I-2"]))
    assert again.status_code == 200, again.text
    assert [a["id"] for a in again.json()["requests"]] == ids
    with unit_of_work(api.rt.engine) as session:
        assert len(session.exec(select(Invitation)).all()) == 2  # no second decision
    # One new item among retries: 201, the retries answered with their requests.
    mixed = api.post(BATCH, "court", orders(api, ["I-1", "I-2", "I-3"]))
    assert mixed.status_code == 201
    assert [a["id"] for a in mixed.json()["requests"]][:2] == ids
    # A reused reference with another body: 409 naming its index, nothing written.
    before = written(api.rt)
    body = orders(api, ["I-4", "I-2"])
    body["requests"][1]["urgency"] = "detention"
    r = api.post(BATCH, "court", body)
    assert r.status_code == 409, r.text
    assert r.json()["detail"].startswith("requests[1]:")
    assert written(api.rt) == before


def test_a_court_sends_court_orders_only(api: Api) -> None:
    body = orders(api, ["K-1"])
    body["requests"].append(api.order("K-2", kind="investigation"))
    r = api.post(BATCH, "court", body)
    assert r.status_code == 403 and "requests[1]" in r.json()["detail"]


@pytest.mark.parametrize(
    ("role", "kind"), [("court", "investigation"), ("investigator", "court_order")]
)
def test_a_batch_item_of_the_other_kind_is_refused_as_a_single_request_is(
    api: Api, role: str, kind: str
) -> None:
    """One rule of who files which kind, for a request and a batch's item alike."""
    before = written(api.rt)
    single = api.post("/api/v1/requests", role, api.order("S-1", kind=kind))
    own = "court_order" if role == "court" else "investigation"
    body = orders(api, ["B-1"], kind=own)
    body["requests"].append(api.order("B-2", kind=kind))
    batch = api.post(BATCH, role, body)
    assert single.status_code == batch.status_code == 403
    assert batch.json()["detail"] == f"requests[1]: {single.json()['detail']}"
    assert written(api.rt) == before


def test_investigations_in_a_batch_await_the_suspects_choice(api: Api) -> None:
    r = api.post(BATCH, "investigator", orders(api, ["Q-1", "Q-2"], kind="investigation"))
    assert r.status_code == 201, r.text
    assert [a["status"] for a in r.json()["requests"]] == ["awaiting_choice"] * 2
    assert count(api.rt, Invitation) == 0


def test_an_item_outside_the_territories_refuses_the_batch(api: Api) -> None:
    before = written(api.rt)
    body = orders(api, ["T-1", "T-2"])
    body["requests"][1]["territory"] = "NOR"
    r = api.post(BATCH, "court", body)
    assert r.status_code == 403 and r.json()["detail"].startswith("requests[1]:")
    assert written(api.rt) == before
    assert count(api.rt, RequestRefusal) == 1


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[Api]:
    rt = runtime_at(
        tmp_path / "limited.db",
        policy_text=policy_text(version="limited", hourly_limit_per_requester=3),
    )
    load_registry(rt, small_registry())
    try:
        with TestClient(create_app(runtime=rt)) as client:
            yield Api(client, rt, "CEN")
    finally:
        rt.stop()


def test_each_item_counts_against_the_hourly_limit(limited: Api) -> None:
    before = written(limited.rt)
    r = limited.post(BATCH, "court", orders(limited, ["H-1", "H-2", "H-3", "H-4"]))
    assert r.status_code == 429, r.text
    assert r.json()["detail"].startswith("requests[3]:")
    assert int(r.headers["Retry-After"]) > 0
    assert written(limited.rt) == before
    assert limited.post(BATCH, "court", orders(limited, ["H-1", "H-2", "H-3"])).status_code == 201


def test_when_lawyers_run_out_the_rest_go_to_the_fallback_then_unfilled(api: Api) -> None:
    # CEN has six lawyers (L-22 conflicted in no case here); NOR is served by F3's L-31 alone,
    # who also serves CEN. Nine persons: six in CEN, none left in NOR, three unfilled.
    r = api.post(BATCH, "court", orders(api, [f"R-{i}" for i in range(9)]))
    assert r.status_code == 201, r.text
    statuses = [a["status"] for a in r.json()["requests"]]
    assert statuses.count("inviting") == 6 and statuses.count("unfilled") == 3
    unfilled = next(a for a in r.json()["requests"] if a["status"] == "unfilled")
    explanation = api.get(f"/api/v1/requests/{unfilled['id']}/explanation", "court").json()
    decision = explanation["decisions"][0]
    assert decision["chosen"] is None
    assert [t["territory"] for t in decision["tried"]] == ["CEN", "NOR"]
    with unit_of_work(api.rt.engine) as session:
        lawyers = [i.lawyer_id for i in session.exec(select(Invitation)).all()]
        assert len(lawyers) == len(set(lawyers)) == 6
    assert api.get("/api/v1/audit/verify", "bar").json()["ok"] is True
