"""The courier claims due messages together (as many as it has free threads) and records
finished tries together: every message still leaves once, after its commit, and is recorded
(delivered, the invitation's delivery marked), also when one message's record fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from dispatcher.db import unit_of_work
from dispatcher.models import Invitation, OutboxMessage
from dispatcher.outbox import Attempt, FollowUp
from dispatcher.runtime import Runtime
from policies.vocabulary import DeliveryStatus, OutboxStatus
from tests.support.channels import RecordingChannel
from tests.support.clients import make_token
from tests.support.flows import submit_request


class CountingChannel(RecordingChannel):
    """Records sends from several threads, and the most sent at the same time."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.now = 0
        self.most = 0

    def send(self, lawyer: str, message: dict[str, Any]) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.02)
        with self._lock:
            self.now -= 1
            super().send(lawyer, message)


def _settled(small: Runtime, count: int, timeout_s: float = 20) -> list[OutboxMessage]:
    deadline = time.monotonic() + timeout_s
    while True:
        with unit_of_work(small.engine) as session:
            rows = list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())
        if all(r.status != OutboxStatus.PENDING for r in rows) and len(rows) == count:
            return rows
        if time.monotonic() > deadline:
            return rows
        # Nothing wakes the courier here but its own finishing threads and this poll.
        small.courier.pump()
        time.sleep(0.05)


def test_every_due_message_leaves_once_with_at_most_parallel_in_flight(small: Runtime) -> None:
    channel = CountingChannel()
    small.courier.channel = channel
    small.courier.parallel = 3
    make_token(small, "court", territory="CEN")
    ids = [submit_request(small, f"MANY-{n}") for n in range(10)]
    handed = small.courier.pump()
    assert handed == 3  # as many as there are threads, claimed in one statement
    rows = _settled(small, 10)
    assert [r.status for r in rows] == [OutboxStatus.DELIVERED] * 10
    assert all(r.attempts == 1 and r.delivered_at is not None for r in rows)
    assert sorted(m["request_id"] for _, m in channel.sent) == sorted(ids)
    assert channel.most <= 3
    with unit_of_work(small.engine) as session:
        deliveries = session.exec(select(Invitation.delivery)).all()
    assert deliveries == [DeliveryStatus.DELIVERED] * 10
    assert small.courier.pump() == 0


class FailingFor:
    """A follow-up that fails for one invitation and otherwise does what the service's does."""

    def __init__(self, inner: FollowUp, invitation_id: str) -> None:
        self.inner, self.invitation_id = inner, invitation_id

    def settle(
        self,
        session: Session,
        message: OutboxMessage,
        *,
        tries: int,
        attempts: Sequence[Attempt],
        delivered: bool,
    ) -> float | None:
        if message.payload.get("invitation_id") == self.invitation_id:
            raise RuntimeError("this record fails")
        return self.inner.settle(
            session, message, tries=tries, attempts=attempts, delivered=delivered
        )


def test_one_failing_record_leaves_the_others_of_its_batch_recorded(small: Runtime) -> None:
    make_token(small, "court", territory="CEN")
    for n in range(4):
        submit_request(small, f"REC-{n}")
    with unit_of_work(small.engine) as session:
        first = session.exec(select(Invitation.id).order_by(col(Invitation.created_at))).first()
    assert first is not None and small.courier.follow_up is not None
    small.courier.follow_up = FailingFor(small.courier.follow_up, first)
    courier = small.courier
    claimed = courier._claim_due(10)
    assert len(claimed) == 4
    for message in claimed:
        courier._finished.put(courier._send(message))
    courier._record_finished()
    with unit_of_work(small.engine) as session:
        rows = session.exec(select(OutboxMessage)).all()
    by_invitation = {r.payload["invitation_id"]: r for r in rows}
    # The failed one stays leased and pending (sent again once its lease ends); the rest are
    # recorded as delivered.
    assert by_invitation[first].status == OutboxStatus.PENDING
    assert by_invitation[first].attempts == 0
    others = [r for k, r in by_invitation.items() if k != first]
    assert [r.status for r in others] == [OutboxStatus.DELIVERED] * 3
    assert courier._claim_due(10) == []  # all leased or done
