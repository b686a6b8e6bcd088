"""Side effects leave only after their transaction commits; delivery retries until 2xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from dispatcher import outbox
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Invitation, OutboxMessage
from dispatcher.runtime import Runtime
from tests.support.channels import RecordingChannel
from tests.support.clients import make_token
from tests.support.flows import accept_pending, armed_invitations, open_request, submit_request
from tests.support.receivers import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=2)
    yield r
    r.close()


def test_nothing_leaves_when_the_transaction_rolls_back(
    small: Runtime, channel: RecordingChannel
) -> None:
    make_token(small, "court", "Court One", territory="CEN")
    with (
        armed_invitations(small) as fired,
        pytest.raises(RuntimeError),
        unit_of_work(small.engine) as session,
    ):
        open_request(session, small, "X")
        raise RuntimeError("the caller fails after the allocation")
    assert fired == []
    assert small.courier.deliver_due() == 0
    assert channel.sent == []
    with unit_of_work(small.engine) as session:
        assert session.exec(select(OutboxMessage)).all() == []
        assert session.exec(select(Invitation)).all() == []


def test_invitation_reaches_the_lawyer_after_commit(
    small: Runtime, channel: RecordingChannel
) -> None:
    make_token(small, "court", "Court One", territory="CEN")
    with armed_invitations(small) as fired:
        request_id = submit_request(small, "A")
    assert len(fired) == 1
    assert channel.sent == []  # written, not yet sent
    assert small.courier.deliver_due() == 1
    [(lawyer, message)] = channel.sent
    assert message["request_id"] == request_id and message["invitation_id"] == fired[0]
    assert lawyer.startswith("L-")
    # Delivering again sends nothing twice.
    assert small.courier.deliver_due() == 0
    assert len(channel.sent) == 1


def test_callback_is_retried_with_backoff_until_2xx(small: Runtime, receiver: Receiver) -> None:
    make_token(small, "court", "Court One", territory="CEN", callback_prefixes=[receiver.prefix])
    request_id = submit_request(small, "B", callback_url=receiver.url)
    small.courier.deliver_due()  # the invitation notification
    with unit_of_work(small.engine) as session:
        lawyer = accept_pending(session, small, request_id)

    def message() -> OutboxMessage:
        with unit_of_work(small.engine) as session:
            return session.exec(select(OutboxMessage).where(OutboxMessage.kind == "callback")).one()

    for attempt in (1, 2):
        assert small.courier.deliver_due() == 0
        m = message()
        assert m.status == "pending" and m.attempts == attempt
        # Backoff: the next attempt is in the future and grows with the attempts.
        wait = (m.next_attempt_at - utcnow()).total_seconds()
        assert outbox.backoff_s(attempt) - 2 < wait <= outbox.backoff_s(attempt)
        assert small.courier.deliver_due() == 0  # not due yet
        with unit_of_work(small.engine) as session:
            session.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == m.id)
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )
    assert small.courier.deliver_due() == 1
    assert message().status == "delivered"
    assert [c.status for c in receiver.calls] == [503, 503, 204]
    keys = {c.headers.get("Idempotency-Key") for c in receiver.calls}
    assert len(keys) == 1 and keys != {None}
    # The Standard Webhooks id is stable across the retries too.
    assert {c.headers.get("webhook-id") for c in receiver.calls} == keys
    body = json.loads(receiver.calls[-1].body)
    assert body["id"] == request_id and body["status"] == "assigned"
    assert body["appointment"]["lawyer"] == lawyer.licence
