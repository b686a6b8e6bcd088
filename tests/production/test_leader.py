"""One active scheduler among processes; a standby takes over when the leader goes."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from dispatcher.db import unit_of_work, utcnow
from dispatcher.leader import Leadership
from dispatcher.models import AuditEvent
from dispatcher.outbox import Courier
from dispatcher.scheduler import Jobs
from tests.support.flows import runtime_at


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
        assert standby.scheduler.get_job("nightly-report") is None
        time.sleep(0.3)
        assert not standby.active  # still held by the first
        active.shutdown()
        deadline = time.monotonic() + 5
        while not standby.active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert standby.active
        assert standby.scheduler.get_job("outbox") is not None
        assert standby.scheduler.get_job("nightly-report") is not None
    finally:
        active.shutdown()
        standby.shutdown()
        courier.http.close()
        rt.stop()


def test_the_active_scheduler_snapshots_yesterday_once(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path / "nightly.db")
    courier = Courier(rt.engine)
    jobs = Jobs(rt.engine, rt.policies, courier)
    try:
        jobs.start()
        deadline = time.monotonic() + 10
        found: list[AuditEvent] = []
        while not found and time.monotonic() < deadline:
            with unit_of_work(rt.engine) as session:
                found = list(
                    session.exec(select(AuditEvent).where(AuditEvent.entity_type == "report")).all()
                )
            time.sleep(0.05)
        assert len(found) == 1
        yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
        assert found[0].entity_id == yesterday
        jobs._snapshot()  # again, as after a restart: the day is kept once
        with unit_of_work(rt.engine) as session:
            again = session.exec(select(AuditEvent).where(AuditEvent.entity_type == "report")).all()
        assert len(again) == 1
    finally:
        jobs.shutdown()
        courier.http.close()
        rt.stop()
