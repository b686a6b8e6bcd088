"""Deliveries start as soon as their message is committed: the courier's threads take each
message as it comes (not in batches), and on PostgreSQL a commit in any process wakes the
process that delivers."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from dispatcher.runtime import Runtime
from tests.support import backends
from tests.support.channels import RecordingChannel
from tests.support.clients import make_token
from tests.support.flows import submit_request


class HeldChannel(RecordingChannel):
    """Holds the first message's send until released; the others pass."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = threading.Event()
        self.release = threading.Event()
        self._first = True
        self._lock = threading.Lock()

    def send(self, lawyer: str, message: dict[str, Any]) -> None:
        with self._lock:
            first, self._first = self._first, False
        if first:
            self.holding.set()
            assert self.release.wait(30)
        super().send(lawyer, message)


def wait_for(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_a_message_committed_during_a_slow_send_leaves_before_it(small: Runtime) -> None:
    held = HeldChannel()
    small.courier.channel = held
    small.courier.parallel = 2
    make_token(small, "court", territory="CEN")
    first = submit_request(small, "SLOW")
    assert small.courier.pump() == 1
    assert held.holding.wait(10)
    # The first send hangs (a slow SMS gateway); the next order's notification must not wait.
    second = submit_request(small, "NEXT")
    assert small.courier.pump() == 1  # the first, in flight, is not handed over again
    assert wait_for(lambda: len(held.sent) == 1, 10)
    assert held.sent[0][1]["request_id"] == second
    held.release.set()
    assert wait_for(lambda: len(held.sent) == 2, 10)
    assert held.sent[1][1]["request_id"] == first
    assert wait_for(lambda: small.courier.pump() == 0 and not small.courier._in_flight, 10)
    assert len(held.sent) == 2


@pytest.mark.skipif(
    not backends.on_postgres(),
    reason="PostgreSQL's NOTIFY; the embedded default is one process, woken by its own hooks",
)
def test_a_commit_in_another_process_wakes_the_deliverer_at_once(small: Runtime) -> None:
    channel = RecordingChannel()
    # The deliverer polls once an hour: only the bell can bring the message in seconds.
    settings = small.settings.model_copy(update={"scheduler": True, "outbox_interval_s": 3600})
    deliverer = Runtime.build(settings, channel=channel)
    deliverer.start()
    try:
        jobs = deliverer.jobs
        assert jobs is not None and jobs.bell is not None
        assert wait_for(lambda: jobs.active and jobs.bell.listening.is_set(), 10)
        time.sleep(0.5)  # the poll at activation has run and found nothing
        make_token(small, "court", territory="CEN")
        started = time.monotonic()
        request_id = submit_request(small, "BELL")  # committed by a process without a scheduler
        assert wait_for(lambda: len(channel.sent) == 1, 5)
        assert channel.sent[0][1]["request_id"] == request_id
        assert time.monotonic() - started < 5
    finally:
        deliverer.stop()
