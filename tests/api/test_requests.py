"""Requests over HTTP: idempotent retries (invariant 4), bad input (invariant 8), who may see
and cancel what, callbacks, and the ways a court order ends without a local lawyer."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlmodel import SQLModel, func, select

from api.routes import accountability, lawyers, registry, reports, requests, tablet
from dispatcher.db import unit_of_work
from dispatcher.models import AuditEvent, Invitation, OutboxMessage, Request
from dispatcher.runtime import Runtime
from tests.support.clients import Api, make_token

REQUESTS = "/api/v1/requests"


def count(rt: Runtime, model: type[SQLModel], *where: Any) -> int:
    with unit_of_work(rt.engine) as session:
        n: int = session.exec(select(func.count()).select_from(model).where(*where)).one()
        return n


def locs(response: httpx.Response) -> list[list[str]]:
    """The `loc` of every validation error in a 422 answer, as strings."""
    detail = response.json()["detail"]
    assert isinstance(detail, list), detail
    return [[str(part) for part in error["loc"]] for error in detail]


# --- invariant 4: one request per reference and requester ------------------------------------


def test_identical_retry_returns_the_same_request_with_200(api: Api) -> None:
    first = api.post(REQUESTS, "court", api.order("ORD-1"))
    assert first.status_code == 201, first.text
    again = api.post(REQUESTS, "court", api.order("ORD-1"))
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert count(api.rt, Request) == 1
    assert count(api.rt, Invitation) == 1


def test_a_different_payload_under_the_same_reference_is_409_and_creates_nothing(
    api: Api,
) -> None:
    first = api.post(REQUESTS, "court", api.order("ORD-1"))
    assert first.status_code == 201, first.text
    events = count(api.rt, AuditEvent)
    changed = api.order("ORD-1", urgency="detention")
    r = api.post(REQUESTS, "court", changed)
    assert r.status_code == 409, r.text
    assert "ORD-1" in str(r.json()["detail"])
    assert count(api.rt, Request) == 1
    assert count(api.rt, Invitation) == 1
    assert count(api.rt, AuditEvent) == events
    # The original is untouched.
    got = api.get(f"{REQUESTS}/{first.json()['id']}", "court")
    assert got.json()["urgency"] == "standard"


def test_the_same_reference_from_another_requester_is_a_separate_request(api: Api) -> None:
    other = make_token(api.rt, "court", "Court Two", territory="CEN")
    first = api.post(REQUESTS, "court", api.order("ORD-1"))
    assert first.status_code == 201, first.text
    r = api.client.post(
        REQUESTS, json=api.order("ORD-1"), headers={"Authorization": f"Bearer {other}"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["id"] != first.json()["id"]
    assert count(api.rt, Request) == 2


def test_eight_identical_posts_at_once_create_one_request_and_one_invitation(api: Api) -> None:
    body = api.order("ORD-RACE")
    headers = api.auth("court")
    n = 8
    barrier = threading.Barrier(n)

    def send(_: int) -> httpx.Response:
        barrier.wait(timeout=10)
        response: httpx.Response = api.client.post(REQUESTS, json=body, headers=headers)
        return response

    with ThreadPoolExecutor(max_workers=n) as pool:
        answers = list(pool.map(send, range(n)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * (n - 1) + [201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    with unit_of_work(api.rt.engine) as session:
        rows = session.exec(select(Request).where(Request.external_ref == "ORD-RACE")).all()
        assert len(rows) == 1
        invitations = session.exec(
            select(Invitation).where(Invitation.request_id == rows[0].id)
        ).all()
        assert len(invitations) == 1
    assert count(api.rt, Request) == 1


# --- invariant 8: bad input gets a clear error and changes nothing ---------------------------


def _person(**over: Any) -> dict[str, Any]:
    person: dict[str, Any] = {"name": "Person X", "language": "az", "juvenile": False}
    person.update(over)
    return person


def _without_name() -> dict[str, Any]:
    person = _person()
    del person["name"]
    return person


BAD_BODIES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("unknown territory", {"territory": "ZZZ"}, ["body", "territory"]),
    ("malformed territory", {"territory": "cen!"}, ["body", "territory"]),
    ("bad urgency", {"urgency": "tomorrow"}, ["body", "urgency"]),
    ("bad category", {"category": "dreadful"}, ["body", "category"]),
    ("bad kind", {"kind": "whim"}, ["body", "kind"]),
    ("missing person name", {"person": _without_name()}, ["body", "person", "name"]),
    ("blank person name", {"person": _person(name="   ")}, ["body", "person", "name"]),
    ("bad language", {"person": _person(language="azz")}, ["body", "person", "language"]),
    ("a lawyer asked for", {"lawyer": "L-11"}, ["body", "lawyer"]),
    ("a lawyer asked for in person", {"person": _person(lawyer="L-11")}, ["body", "person"]),
    ("oversized case_number", {"case_number": "9" * 65}, ["body", "case_number"]),
    ("empty external_ref", {"external_ref": ""}, ["body", "external_ref"]),
    ("bad callback_url", {"callback_url": "not a url"}, ["body", "callback_url"]),
]


@pytest.mark.parametrize(
    ("over", "loc"), [(o, loc) for _, o, loc in BAD_BODIES], ids=[b[0] for b in BAD_BODIES]
)
def test_bad_request_bodies_are_422_naming_the_field_and_write_nothing(
    api: Api, over: dict[str, Any], loc: list[str]
) -> None:
    api.auth("court")
    requests, events = count(api.rt, Request), count(api.rt, AuditEvent)
    r = api.post(REQUESTS, "court", api.order("ORD-BAD", **over))
    assert r.status_code == 422, r.text
    assert any(found[: len(loc)] == loc for found in locs(r)), (loc, r.json())
    for error in r.json()["detail"]:
        assert error.get("msg"), "the detail says why"
    assert count(api.rt, Request) == requests
    assert count(api.rt, AuditEvent) == events


def test_invalid_json_is_422_and_writes_nothing(api: Api) -> None:
    headers = {**api.auth("court"), "Content-Type": "application/json"}
    events = count(api.rt, AuditEvent)
    r = api.client.post(REQUESTS, content=b'{"external_ref": "X", ', headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][0] == "body"
    assert count(api.rt, Request) == 0
    assert count(api.rt, AuditEvent) == events


def test_a_body_over_one_megabyte_is_413_and_writes_nothing(api: Api) -> None:
    headers = api.auth("court")
    events = count(api.rt, AuditEvent)
    body = api.order("ORD-BIG", case_number="x" * 1_100_000)
    r = api.client.post(REQUESTS, json=body, headers=headers)
    assert r.status_code == 413, r.text
    assert "detail" in r.json()
    assert count(api.rt, Request) == 0
    assert count(api.rt, AuditEvent) == events


# --- who may do what ---------------------------------------------------------------------------


def test_no_token_or_a_bad_token_is_401(api: Api) -> None:
    assert api.post(REQUESTS, None, api.order("ORD-1")).status_code == 401
    r = api.client.post(
        REQUESTS, json=api.order("ORD-1"), headers={"Authorization": "Bearer not-a-token"}
    )
    assert r.status_code == 401
    assert api.client.get(f"{REQUESTS}/whatever").status_code == 401
    assert count(api.rt, Request) == 0


@pytest.mark.parametrize("who", ["L-11", "bar"])
def test_lawyers_and_the_bar_cannot_open_requests(api: Api, who: str) -> None:
    r = api.post(REQUESTS, who, api.order("ORD-1"))
    assert r.status_code == 403, r.text
    assert count(api.rt, Request) == 0


def test_a_court_cannot_open_an_investigation_nor_an_investigator_a_court_order(
    api: Api,
) -> None:
    r = api.post(REQUESTS, "court", api.order("ORD-1", kind="investigation"))
    assert r.status_code == 403, r.text
    r = api.post(REQUESTS, "investigator", api.order("INV-1", kind="court_order"))
    assert r.status_code == 403, r.text
    assert count(api.rt, Request) == 0


def test_another_court_can_neither_see_nor_cancel_a_request_but_the_bar_and_admin_can(
    api: Api,
) -> None:
    other = {"Authorization": f"Bearer {make_token(api.rt, 'court', 'Court Two', territory='CEN')}"}
    request_id = api.post(REQUESTS, "court", api.order("ORD-1")).json()["id"]
    assert api.client.get(f"{REQUESTS}/{request_id}", headers=other).status_code == 404
    assert api.client.post(f"{REQUESTS}/{request_id}/cancel", headers=other).status_code == 404
    assert api.client.get(f"{REQUESTS}/{request_id}/explanation", headers=other).status_code == 404
    assert api.get(f"{REQUESTS}/{request_id}", "court").json()["status"] == "inviting"
    for reader in ("bar", "admin"):
        r = api.get(f"{REQUESTS}/{request_id}", reader)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == request_id
    assert api.get(f"{REQUESTS}/no-such-request", "bar").status_code == 404
    # The bar reads but does not act; an administrator may cancel.
    assert api.post(f"{REQUESTS}/{request_id}/cancel", "bar").status_code == 403
    assert api.post(f"{REQUESTS}/{request_id}/cancel", "L-11").status_code == 403
    assert api.get(f"{REQUESTS}/{request_id}", "court").json()["status"] == "inviting"
    r = api.post(f"{REQUESTS}/{request_id}/cancel", "admin")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"


# --- cancel ------------------------------------------------------------------------------------


def test_cancelling_withdraws_the_pending_invitation_and_cannot_be_repeated(api: Api) -> None:
    created = api.post(REQUESTS, "court", api.order("ORD-1")).json()
    invitation = created["invitation"]
    assert created["status"] == "inviting" and invitation is not None
    r = api.post(f"{REQUESTS}/{created['id']}/cancel", "court")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["invitation"] is None
    mine = api.get("/api/v1/invitations", invitation["lawyer"]).json()
    assert [(i["id"], i["status"]) for i in mine] == [(invitation["id"], "withdrawn")]
    # The withdrawn invitation can no longer be accepted.
    accept = api.post(f"/api/v1/invitations/{invitation['id']}/accept", invitation["lawyer"])
    assert accept.status_code == 409, accept.text
    again = api.post(f"{REQUESTS}/{created['id']}/cancel", "court")
    assert again.status_code == 409, again.text
    assert api.get(f"{REQUESTS}/{created['id']}", "court").json()["status"] == "cancelled"


# --- callbacks ---------------------------------------------------------------------------------


def _callbacks(rt: Runtime) -> list[OutboxMessage]:
    with unit_of_work(rt.engine) as session:
        return list(
            session.exec(select(OutboxMessage).where(OutboxMessage.kind == "callback")).all()
        )


def test_a_callback_is_queued_once_when_the_order_ends_assigned(api: Api) -> None:
    url = "https://court.example/hooks/counsel"
    created = api.post(REQUESTS, "court", api.order("ORD-1", callback_url=url)).json()
    assert _callbacks(api.rt) == []
    invitation = created["invitation"]
    accepted = api.post(f"/api/v1/invitations/{invitation['id']}/accept", invitation["lawyer"])
    assert accepted.status_code == 200, accepted.text
    callbacks = _callbacks(api.rt)
    assert len(callbacks) == 1
    message = callbacks[0]
    assert message.target == url
    assert message.payload["id"] == created["id"]
    assert message.payload["status"] == "assigned"
    assert message.payload["appointment"]["lawyer"] == invitation["lawyer"]
    assert message.payload["external_ref"] == "ORD-1"
    # The callback's body is the request's JSON as the API answered it, key for key, in order.
    assert json.dumps(message.payload) == json.dumps(accepted.json())
    # Closing the appointment later is not another ending.
    appointment = accepted.json()["appointment"]["id"]
    closed = api.post(f"/api/v1/appointments/{appointment}/close", invitation["lawyer"])
    assert closed.status_code == 200, closed.text
    assert len(_callbacks(api.rt)) == 1


def test_an_order_without_callback_url_queues_no_callback(api: Api) -> None:
    created = api.post(REQUESTS, "court", api.order("ORD-1")).json()
    invitation = created["invitation"]
    api.post(f"/api/v1/invitations/{invitation['id']}/accept", invitation["lawyer"])
    assert _callbacks(api.rt) == []


# --- no local lawyer ---------------------------------------------------------------------------


def test_an_order_no_lawyer_can_take_ends_unfilled_and_says_why(api: Api) -> None:
    url = "https://court.example/hooks/counsel"
    body = api.order("ORD-1", callback_url=url, person=_person(language="ka", juvenile=True))
    r = api.post(REQUESTS, "court", body)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "unfilled"
    assert r.json()["invitation"] is None
    assert count(api.rt, Invitation) == 0
    explanation = api.get(f"{REQUESTS}/{r.json()['id']}/explanation", "court").json()
    decision = explanation["decisions"][-1]
    assert decision["chosen"] is None
    assert "no eligible lawyer" in decision["outcome"]
    assert [t["territory"] for t in decision["tried"]] == ["CEN", "NOR"]
    callbacks = _callbacks(api.rt)
    assert len(callbacks) == 1 and callbacks[0].payload["status"] == "unfilled"


def test_with_no_eligible_lawyer_at_home_the_fallback_territory_is_used_and_recorded(
    api: Api,
) -> None:
    lawyer = {
        "licence": "L-91",
        "name": "Mehmet Yılmaz",
        "firm": "F3",
        "territories": ["NOR"],
        "languages": ["tr"],
        "max_open": 3,
    }
    put = api.client.put("/api/v1/registry/lawyers/L-91", json=lawyer, headers=api.auth("admin"))
    assert put.status_code == 200, put.text
    r = api.post(REQUESTS, "court", api.order("ORD-TR", person=_person(language="tr")))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "inviting"
    assert body["invitation"]["lawyer"] == "L-91"
    assert body["invitation"]["firm"] == "F3"
    decision = api.get(f"{REQUESTS}/{body['id']}/explanation", "court").json()["decisions"][-1]
    assert decision["via_fallback"] == "NOR"
    assert decision["territory"] == "NOR"
    assert decision["fallback_rule"]
    assert [t["territory"] for t in decision["tried"]] == ["CEN", "NOR"]
    assert decision["tried"][0]["eligible_firms"] == []
    with unit_of_work(api.rt.engine) as session:
        events = session.exec(
            select(AuditEvent).where(
                AuditEvent.request_id == body["id"], AuditEvent.action == "decision.rotation"
            )
        ).all()
        assert len(events) == 1 and '"via_fallback":"NOR"' in events[0].payload


def test_a_chunked_body_over_one_megabyte_is_413_too(api: Api) -> None:
    """Without a Content-Length the limit must still answer 413, not a parsing error."""
    raw = json.dumps(api.order("ORD-BIG", case_number="x" * 1_100_000)).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    headers = {**api.auth("court"), "Content-Type": "application/json"}
    events = count(api.rt, AuditEvent)
    r = api.client.post(REQUESTS, content=chunks(), headers=headers)
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert r.status_code == 413, r.text
    assert count(api.rt, Request) == 0
    assert count(api.rt, AuditEvent) == events


def test_different_orders_at_once_each_get_one_invitation_within_the_caps(api: Api) -> None:
    headers = api.auth("court")
    n = 8
    barrier = threading.Barrier(n)

    def send(i: int) -> httpx.Response:
        barrier.wait(timeout=10)
        response: httpx.Response = api.client.post(
            REQUESTS, json=api.order(f"ORD-PAR-{i}"), headers=headers
        )
        return response

    with ThreadPoolExecutor(max_workers=n) as pool:
        answers = list(pool.map(send, range(n)))
    assert [a.status_code for a in answers] == [201] * n, [a.text for a in answers]
    assert all(a.json()["status"] == "inviting" for a in answers)
    assert count(api.rt, Request) == n
    assert count(api.rt, Invitation, Invitation.status == "pending") == n
    per_lawyer = Counter(a.json()["invitation"]["lawyer"] for a in answers)
    assert max(per_lawyer.values()) <= 3, per_lawyer
    # The rotation saw the decisions one after another: weights 3/2/1 give 4/3/1 or so.
    per_firm = Counter(a.json()["invitation"]["firm"] for a in answers)
    assert sum(per_firm.values()) == n
    assert abs(per_firm["F1"] - n * 3 / 6) < 1
    assert abs(per_firm["F2"] - n * 2 / 6) < 1
    assert abs(per_firm["F3"] - n * 1 / 6) < 1


def test_a_requester_lists_only_its_own_requests_newest_first(api: Api) -> None:
    other = make_token(api.rt, "court", "Court Two", territory="CEN")
    mine = [api.post(REQUESTS, "court", api.order(f"L-{i}")).json()["id"] for i in range(3)]
    theirs = api.client.post(
        REQUESTS, json=api.order("L-X"), headers={"Authorization": f"Bearer {other}"}
    ).json()["id"]
    listed = api.get(REQUESTS, "court").json()
    assert [r["id"] for r in listed] == list(reversed(mine))
    assert theirs not in {r["id"] for r in api.get(REQUESTS, "court").json()}
    assert {r["id"] for r in api.get(REQUESTS, "bar").json()} == {*mine, theirs}
    assert api.get(REQUESTS, "court", status="assigned").json() == []
    assert len(api.get(REQUESTS, "court", limit=2).json()) == 2
    assert api.get(REQUESTS, "court", status="bogus").status_code == 422


# --- the published contract ----------------------------------------------------------------------


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_every_json_answer_under_api_v1_has_a_schema_with_named_properties(api: Api) -> None:
    """A court's integrator can generate a client: every operation under `/api/v1` says what
    its success answer holds, field by field (the event stream and the CSV exports aside)."""
    doc = api.client.get("/openapi.json").json()
    checked = 0
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            success = {
                code: answer for code, answer in operation["responses"].items() if code[0] == "2"
            }
            assert success, (method, path)
            for code, answer in success.items():
                content = answer.get("content", {})
                if "application/json" not in content:
                    assert set(content) <= {"text/event-stream", "text/csv"}, (method, path)
                    assert content, (method, path, code)
                    continue
                schema = _resolve(doc, content["application/json"]["schema"])
                if schema.get("type") == "array":
                    schema = _resolve(doc, schema["items"])
                assert schema.get("type") == "object", (method, path, code, schema)
                assert schema.get("properties"), (method, path, code, schema)
                checked += 1
    # Every route of the routers is published, and all but the streams answer JSON.
    routes = [
        route
        for router in (
            requests.router,
            lawyers.router,
            tablet.router,
            registry.router,
            reports.router,
            accountability.router,
        )
        for route in router.routes
    ]
    assert checked >= len(routes) - 4


def test_the_contract_lists_the_allowed_words(api: Api) -> None:
    """The enumerations a client validates against are published with their values."""
    doc = api.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]

    def values(model: str, field: str) -> list[str]:
        prop = schemas[model]["properties"][field]
        options = prop.get("anyOf", [prop])
        found = [_resolve(doc, o) for o in options if o.get("type") != "null"]
        return list(found[0]["enum"])

    assert values("RequestIn", "kind") == ["court_order", "investigation"]
    assert values("RequestIn", "urgency") == ["detention", "standard"]
    assert values("RequestIn", "category") == ["minor", "less_grave", "grave", "especially_grave"]
    assert values("ChoiceIn", "language") == ["az", "ru", "en"]
    assert values("RequestOut", "status") == [
        "awaiting_choice",
        "inviting",
        "assigned",
        "unfilled",
        "cancelled",
        "private_counsel",
    ]
