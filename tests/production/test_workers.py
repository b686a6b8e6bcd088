"""Outbox delivery with more than one deliverer: each message leaves once."""

from __future__ import annotations

import threading

from dispatcher.outbox import Courier
from dispatcher.runtime import Runtime
from tests.support.channels import RecordingChannel
from tests.support.clients import make_token
from tests.support.flows import submit_request


def test_two_deliverers_racing_send_each_invitation_once(small: Runtime) -> None:
    # Caps allow 18 open cases in CEN; 15 orders leave 15 invitation messages.
    make_token(small, "court", territory="CEN")
    ids = [submit_request(small, f"OUT-{n}") for n in range(15)]
    assert len(set(ids)) == 15
    channels = [RecordingChannel(), RecordingChannel()]
    couriers = [Courier(small.engine, channel=c) for c in channels]
    start = threading.Barrier(2)

    def deliver(courier: Courier) -> None:
        start.wait()
        while courier.deliver_due():
            pass

    threads = [threading.Thread(target=deliver, args=(c,)) for c in couriers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    sent = [message["invitation_id"] for c in channels for _, message in c.sent]
    assert len(sent) == 15
    assert len(set(sent)) == 15
    for courier in couriers:
        courier.http.close()
