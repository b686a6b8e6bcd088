"""Invariants 4 and 8 over many inputs: idempotent references, and bad input changes nothing."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from dispatcher.db import unit_of_work
from dispatcher.models import AuditEvent, Invitation, OutboxMessage, Request
from tests.support.clients import Api

REQUESTS = "/api/v1/requests"
FIXTURE = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

valid_changes: dict[str, st.SearchStrategy[Any]] = {
    "case_number": st.from_regex(r"1\(10[0-9]\)-[0-9]{1,4}/202[0-9]", fullmatch=True),
    "urgency": st.sampled_from(["detention", "standard"]),
    "category": st.sampled_from(["minor", "less_grave", "grave", "especially_grave"]),
    "person.name": st.text(st.characters(codec="utf-8", categories=["L"]), min_size=1, max_size=40),
    "person.language": st.sampled_from(["az", "ru", "en"]),
    "person.juvenile": st.booleans(),
    "callback_url": st.sampled_from(
        [None, "https://court.example/hooks/a", "https://court.example/hooks/b"]
    ),
}

invalid_values: dict[str, st.SearchStrategy[Any]] = {
    "external_ref": st.sampled_from(["", "x" * 129, "has space", 7, None]),
    "kind": st.sampled_from(["", "appeal", 1, None]),
    "case_number": st.sampled_from(["", "x" * 65, 12, None]),
    "territory": st.sampled_from(["", "nope", "X" * 20, 3, None]),
    "urgency": st.sampled_from(["urgent", "", 0, None]),
    "category": st.sampled_from(["serious", "", None, []]),
    "person": st.sampled_from(["name", 1, None, []]),
    "person.name": st.sampled_from(["", "x" * 201, 5, None]),
    "person.language": st.sampled_from(["azz", "AZ", "", 1, None]),
    "person.juvenile": st.sampled_from(["sometimes", [], {}]),
    "callback_url": st.sampled_from(["not a url", "ftp://x", "x" * 2100, 5]),
    "lawyer": st.sampled_from(["A-0001", "L-11"]),
}


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    target[leaf] = value


def _counts(api: Api) -> tuple[int, ...]:
    with unit_of_work(api.rt.engine) as session:
        return tuple(
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Request, AuditEvent, Invitation, OutboxMessage)
        )


@FIXTURE
@given(field=st.sampled_from(sorted(valid_changes)), data=st.data())
def test_a_reference_means_one_request_for_any_payload(api: Api, field: str, data: Any) -> None:
    body = api.order(f"P-{uuid.uuid4().hex[:12]}")
    first = api.post(REQUESTS, "court", body)
    assert first.status_code == 201, first.text
    retry = api.post(REQUESTS, "court", copy.deepcopy(body))
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    changed = copy.deepcopy(body)
    original = changed
    value = data.draw(valid_changes[field].filter(lambda v: v != _get(original, field)))
    _set(changed, field, value)
    before = _counts(api)
    clash = api.post(REQUESTS, "court", changed)
    assert clash.status_code == 409, (field, value, clash.text)
    assert _counts(api) == before


def _get(body: dict[str, Any], path: str) -> Any:
    target: Any = body
    for part in path.split("."):
        target = target.get(part) if isinstance(target, dict) else None
    return target


@FIXTURE
@given(field=st.sampled_from(sorted(invalid_values)), data=st.data())
def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    api: Api, field: str, data: Any
) -> None:
    body = api.order(f"B-{uuid.uuid4().hex[:12]}")
    value = data.draw(invalid_values[field])
    _set(body, field, value)
    before = _counts(api)
    response = api.post(REQUESTS, "court", body)
    assert response.status_code == 422, (field, value, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    named = {str(part) for error in detail for part in error["loc"]}
    assert field.split(".")[-1] in named or field.split(".")[0] in named, detail
    assert _counts(api) == before
