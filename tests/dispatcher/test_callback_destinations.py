"""Callbacks go only where they should (issue 13, item 4): no credentials in a URL or a prefix,
no delivery to an address inside the service's network unless a prefix names that address, a
callback fails after the policy's number of tries, and the bar's report shows what failed and
the choice sessions re-opened."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from dispatcher import destinations, workflow
from dispatcher.db import unit_of_work, utcnow
from dispatcher.errors import Invalid
from dispatcher.models import AuditEvent, OutboxMessage, Request
from dispatcher.reports import delivery, render
from dispatcher.runtime import Runtime
from policies.config import load_policy_book
from policies.vocabulary import OutboxKind, OutboxStatus
from tests.support.clients import Api, make_token
from tests.support.flows import accept_pending, context, submit_request
from tests.support.policies import policy_text
from tests.support.receivers import Receiver


def resolving_to(*addresses: str) -> destinations.Resolver:
    """A name service that answers these addresses for every name."""
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    ("url", "prefixes", "answers"),
    [
        # A public address behind a registered name.
        ("https://court.example/hooks/1", ["https://court.example/hooks/"], ["93.184.216.34"]),
        # A private network registered by its address.
        ("http://10.20.0.5:8443/hooks/1", ["http://10.20.0.5:8443/hooks/"], []),
        # The demo's loopback receiver, registered as localhost (resolved for real).
        ("http://localhost:9000/hooks/1", ["http://localhost:9000/"], None),
    ],
)
def test_allowed_destinations(url: str, prefixes: list[str], answers: list[str] | None) -> None:
    resolver = destinations.resolve if answers is None else resolving_to(*answers)
    destinations.check(url, prefixes, resolver=resolver)


@pytest.mark.parametrize(
    ("url", "prefixes", "answers", "why"),
    [
        # A registered name made to resolve inside the network (rebinding).
        ("https://court.example/h/1", ["https://court.example/h/"], ["10.0.0.7"], "non-public"),
        ("https://court.example/h/1", ["https://court.example/h/"], ["127.0.0.1"], "non-public"),
        # One private address among public ones is enough to refuse.
        (
            "https://court.example/h/1",
            ["https://court.example/h/"],
            ["93.184.216.34", "192.168.1.9"],
            "non-public",
        ),
        # A cloud's metadata service, and loopback hidden in an IPv6 mapping.
        ("http://169.254.169.254/h/", ["http://169.254.169.254/"], ["169.254.169.254"], None),
        ("https://court.example/h/1", ["https://court.example/h/"], ["::ffff:127.0.0.1"], "non"),
        ("https://court.example/h/1", ["https://court.example/h/"], ["fe80::1"], "non-public"),
        ("https://u:p@court.example/h/1", ["https://u:p@court.example/h/"], [], "credentials"),
        ("https://elsewhere.example/h/1", ["https://court.example/h/"], [], "no registered"),
    ],
)
def test_refused_destinations(
    url: str, prefixes: list[str], answers: list[str], why: str | None
) -> None:
    if why is None:  # the metadata address named by a prefix is still a named address
        destinations.check(url, prefixes, resolver=resolving_to(*answers))
        return
    with pytest.raises(destinations.Refused, match=why):
        destinations.check(url, prefixes, resolver=resolving_to(*answers))


def test_credentials_are_refused_in_a_prefix_and_in_a_callback_url(api: Api) -> None:
    with pytest.raises(Invalid, match="credentials"):
        make_token(
            api.rt, "court", "Court Two", territory="CEN",
            callback_prefixes=["https://user:secret@court.example/hooks/"],
        )  # fmt: skip
    body = {
        "external_ref": "CRED-1",
        "kind": "court_order",
        "case_number": "1(101)-1/2026",
        "territory": "CEN",
        "urgency": "detention",
        "category": "grave",
        "person": {"name": "Person", "language": "az"},
        "callback_url": "https://user:secret@court.example/hooks/x",
    }
    refused = api.post("/api/v1/requests", "court", body)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"][-1] == "callback_url"
    assert "secret" not in refused.text
    with unit_of_work(api.rt.engine) as session:
        assert session.exec(select(Request)).all() == []


def assigned_with_callback(rt: Runtime, ref: str, url: str) -> str:
    """A court order with a callback, accepted: its callback is now in the outbox."""
    request_id = submit_request(rt, ref, callback_url=url)
    rt.courier.deliver_due()  # the invitation
    with unit_of_work(rt.engine) as session:
        accept_pending(session, rt, request_id)
    return request_id


def callback_of(rt: Runtime, request_id: str) -> OutboxMessage:
    with unit_of_work(rt.engine) as session:
        messages = session.exec(
            select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.CALLBACK)
        ).all()
    [message] = [m for m in messages if m.payload["id"] == request_id]
    return message


def test_a_name_resolving_inside_the_network_is_refused_at_once_and_reported(
    small: Runtime,
) -> None:
    make_token(
        small, "court", "Court One", territory="CEN",
        callback_prefixes=["https://court.example/hooks/"],
    )  # fmt: skip
    small.courier.resolver = resolving_to("10.9.8.7")
    request_id = assigned_with_callback(small, "REBIND", "https://court.example/hooks/counsel")
    assert small.courier.deliver_due() == 0
    message = callback_of(small, request_id)
    assert message.status == OutboxStatus.FAILED and message.attempts == 1
    assert message.last_error is not None and "non-public" in message.last_error
    with unit_of_work(small.engine) as session:
        [alert] = delivery.failed_callbacks(session, territory="CEN")
    assert (alert["requester"], alert["failed"], alert["refused"]) == ("Court One", 1, 1)


def test_a_callback_fails_after_the_policys_tries_and_the_bars_report_shows_it(
    small: Runtime, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(policy_text(callback_attempts=3), encoding="utf-8")
    small.courier.policies = load_policy_book(policy)
    receiver = Receiver(failures=1000, status=500)
    try:
        make_token(
            small, "court", "Court One", territory="CEN", callback_prefixes=[receiver.prefix]
        )
        request_id = assigned_with_callback(small, "TRIES", receiver.url)
        for _ in range(5):
            small.courier.deliver_due()
            with unit_of_work(small.engine) as session:  # the backoff, skipped
                session.execute(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.status) == OutboxStatus.PENDING)
                    .values(next_attempt_at=utcnow() - timedelta(seconds=1))
                )
        assert len(receiver.calls) == 3
        message = callback_of(small, request_id)
        assert message.status == OutboxStatus.FAILED and message.attempts == 3
        with unit_of_work(small.engine) as session:
            [event] = session.exec(
                select(AuditEvent).where(AuditEvent.action == "callback.failed")
            ).all()
            assert event.request_id == request_id
            full = render.gather(session, "CEN", None, None, utcnow())
        [alert] = full.callbacks_failed
        assert (alert["failed"], alert["refused"]) == (1, 0)
        assert "500" in alert["last_error"]
        page = render.html(full)
        assert "Callbacks that failed" in page and "Court One (court)" in page
    finally:
        receiver.close()


def test_reopened_choice_sessions_are_counted_for_the_bar(small: Runtime) -> None:
    make_token(small, "investigator", "Police One", territory="CEN")
    ctx = context(small)
    request_id = submit_request(small, "REOPEN", kind="investigation")
    for _ in range(3):  # the first session and two re-opens
        with unit_of_work(small.engine) as session:
            request = session.get(Request, request_id)
            assert request is not None
            workflow.open_choice_session(session, request, ctx)
    submit_request(small, "ONCE", kind="investigation")
    with unit_of_work(small.engine) as session:
        [row] = delivery.reopened_sessions(session, territory="CEN")
    assert row == {
        "requester": "Police One",
        "role": "investigator",
        "requests": 1,
        "reopens": 2,
        "most": 2,
    }
