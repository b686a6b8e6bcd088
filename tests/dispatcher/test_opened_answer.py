"""A new request's answer is built from what its transaction holds (`workflow.opened_out`):
it must equal the answer read back from the database (`workflow.request_out`), field for
field, in every state a new request can be in, in the transaction and after the commit."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher import workflow
from dispatcher.db import unit_of_work
from dispatcher.models import Request
from dispatcher.runtime import Runtime
from policies.vocabulary import RequestStatus
from tests.support.clients import make_token
from tests.support.flows import context, decline_pending, request_body, requester

# Orders in the territory with lawyers and in one with few, in each language and age (some
# find nobody and end unfilled), and investigation requests (they await the choice).
BODIES: list[dict[str, Any]] = [
    {"kind": kind, "territory": territory, "person": {"name": "P", "language": lang, "juvenile": j}}
    for kind in ("court_order", "investigation")
    for territory in ("CEN", "NOR")
    for lang in ("az", "ru", "en")
    for j in (False, True)
]


def _open(small: Runtime, ref: str, body: dict[str, Any]) -> tuple[str, Any, Any]:
    role = "court" if body["kind"] == "court_order" else "investigator"
    with unit_of_work(small.engine) as session:
        request, created = workflow.create_request(
            session,
            request_body(ref, **body),
            requester=requester(session, role),
            ctx=context(small),
        )
        assert created
        built = workflow.opened_out(session, request)
        read = workflow.request_out(session, request)
    return request.id, built, read


@pytest.fixture
def filing(small: Runtime) -> Runtime:
    make_token(small, "court", "Court", any_territory=True)
    make_token(small, "investigator", "Investigator", any_territory=True)
    return small


def test_a_new_requests_answer_equals_the_one_read_back(filing: Runtime) -> None:
    seen: set[str] = set()
    # Twice over: the second round meets lawyers at their caps, and more orders end unfilled.
    for round_ in range(2):
        for n, body in enumerate(BODIES):
            request_id, built, read = _open(filing, f"OPEN-{round_}-{n}", body)
            assert built == read
            assert built.model_dump(mode="json") == read.model_dump(mode="json")
            seen.add(built.status)
            with unit_of_work(filing.engine) as session:
                stored = session.get(Request, request_id)
                assert stored is not None
                assert workflow.request_out(session, stored) == built
    assert {RequestStatus.INVITING, RequestStatus.AWAITING_CHOICE} <= seen


def test_a_request_the_transaction_did_not_open_is_read(filing: Runtime) -> None:
    request_id, built, _ = _open(filing, "OLD", BODIES[0])
    assert built.invitation is not None
    with unit_of_work(filing.engine) as session:
        decline_pending(session, filing, request_id)
    with unit_of_work(filing.engine) as session:
        request = session.get(Request, request_id)
        assert request is not None
        answer = workflow.opened_out(session, request)
        # Read back: the declined invitation is gone from it.
        assert answer == workflow.request_out(session, request)
        assert answer.invitation is None or answer.invitation.id != built.invitation.id
