"""One active scheduler among processes; a standby takes over when the leader goes."""

from __future__ import annotations

import time
from pathlib import Path

from dispatcher.leader import Leadership
from dispatcher.outbox import Courier
from dispatcher.scheduler import Jobs
from tests.dispatcher.flows import runtime_at


def test_only_one_holder_at_a_time_and_release_hands_over(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "lead.db")
    first, second = Leadership(rt.engine), Leadership(rt.engine)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert not second.held
        first.release()
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()
        rt.stop()


def test_a_standby_scheduler_becomes_active_when_the_active_one_stops(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "jobs.db")
    courier = Courier(rt.engine)
    active = Jobs(rt.engine, rt.policies, courier, standby_interval_s=0.1)
    standby = Jobs(rt.engine, rt.policies, courier, standby_interval_s=0.1)
    try:
        active.start()
        standby.start()
        assert active.active
        assert not standby.active
        assert standby.scheduler.get_job("outbox") is None
        time.sleep(0.3)
        assert not standby.active  # still held by the first
        active.shutdown()
        deadline = time.monotonic() + 5
        while not standby.active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert standby.active
        assert standby.scheduler.get_job("outbox") is not None
        assert standby.scheduler.get_job("standby") is None
    finally:
        active.shutdown()
        standby.shutdown()
        courier.http.close()
        rt.stop()
