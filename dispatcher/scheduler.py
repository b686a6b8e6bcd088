"""The scheduler (APScheduler): deadline timers, deadline sweeps, outbox delivery, the nightly
report snapshot and the nightly erasure of personal data past its retention period.

It runs inside the API process on the embedded default, or in `dispatcher worker` processes in
production. Wherever it runs, only one instance is active at a time (see `leader`): the others
stand by and try again every few seconds, so killing the active one hands over at once.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from dispatcher import deadlines, retention, workflow
from dispatcher.db import utcnow
from dispatcher.leader import Leadership
from dispatcher.outbox import Courier, OutboxBell
from dispatcher.reports import snapshots
from policies.config import PolicyBook

log = structlog.get_logger(__name__)


class Jobs:
    """Owns the APScheduler instance and the jobs of the embedded default."""

    def __init__(
        self,
        engine: Engine,
        policies: PolicyBook,
        courier: Courier,
        outbox_interval_s: float = 1.0,
        sweep_interval_s: float = 5.0,
        standby_interval_s: float = 2.0,
    ) -> None:
        self.engine = engine
        self.policies = policies
        self.courier = courier
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.outbox_interval_s = outbox_interval_s
        self.sweep_interval_s = sweep_interval_s
        self.standby_interval_s = standby_interval_s
        self.leadership = Leadership(engine)
        self.active = False
        self._stopping = threading.Event()
        self._activation = threading.Lock()
        self._standby: threading.Thread | None = None
        # On PostgreSQL a commit in any process that fills the outbox wakes the delivery.
        self.bell = (
            OutboxBell(engine, self.wake_outbox) if engine.dialect.name == "postgresql" else None
        )

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        """Become the active scheduler if no other process is, else stand by and keep trying."""
        self.scheduler.start()
        if not self._try_lead():
            log.info("scheduler.standby", interval_s=self.standby_interval_s)
            # A thread of its own, not a scheduler job: activating adds jobs, and a job that
            # adds jobs while the scheduler shuts down would wait on it forever.
            self._standby = threading.Thread(target=self._stand_by, name="standby", daemon=True)
            self._standby.start()

    def _stand_by(self) -> None:
        while not self._stopping.wait(self.standby_interval_s):
            if self._try_lead():
                return

    def _try_lead(self) -> bool:
        with self._activation:
            if self.active:
                return True
            if self._stopping.is_set():
                return False
            try:
                if not self.leadership.try_acquire():
                    return False
            except Exception:
                log.exception("scheduler.leadership_failed")
                return False
            self._activate()
            return True

    def _activate(self) -> None:
        """Escalate what expired while nobody was leading, re-arm every timer, then run."""
        escalated = deadlines.sweep(self.engine, self.policies, self.hooks)
        log.info("deadlines.recovered", escalated=escalated)
        for invitation_id, deadline in deadlines.pending_deadlines(self.engine):
            self.arm(invitation_id, deadline)
        self.scheduler.add_job(
            self._deliver,
            "interval",
            seconds=self.outbox_interval_s,
            id="outbox",
            max_instances=1,
            coalesce=True,
            next_run_time=utcnow(),
        )
        if self.bell is not None:
            self.bell.start()
        self.scheduler.add_job(
            self._sweep,
            "interval",
            seconds=self.sweep_interval_s,
            id="deadline-sweep",
            max_instances=1,
            coalesce=True,
        )
        # Yesterday's report into the audit chain, just after midnight UTC; once now as well,
        # in case the service was down at that hour (a day is snapshot once, however often run).
        self.scheduler.add_job(
            self._snapshot,
            "cron",
            hour=0,
            minute=5,
            id="nightly-report",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=utcnow(),
        )
        # Personal data past its retention period, nightly and once now (a run that finds
        # nothing writes nothing).
        self.scheduler.add_job(
            self._erase_expired,
            "cron",
            hour=0,
            minute=35,
            id="nightly-retention",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=utcnow(),
        )
        self.active = True

    def shutdown(self) -> None:
        self._stopping.set()
        if self._standby is not None:
            self._standby.join()
            self._standby = None
        if self.bell is not None:
            self.bell.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.leadership.release()
        self.active = False

    @property
    def hooks(self) -> workflow.Hooks:
        """What the flows of this process tell the scheduler after each commit: a deadline to
        arm, an outbox to deliver. Heard only while this instance leads (on activation it
        re-arms every pending deadline from the database anyway)."""
        return workflow.Hooks(
            deadline_set=(self._arm_if_leading,), outbox_filled=(self.wake_outbox,)
        )

    def _arm_if_leading(self, invitation_id: str, deadline: datetime) -> None:
        if self.active and self.scheduler.running:
            self.arm(invitation_id, deadline)

    def arm(self, invitation_id: str, deadline: datetime) -> None:
        # A little after the deadline, so the guarded expiry sees it as past.
        self.scheduler.add_job(
            self._expire,
            "date",
            run_date=deadline + timedelta(milliseconds=50),
            args=[invitation_id],
            id=f"deadline-{invitation_id}",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def wake_outbox(self) -> None:
        if self.scheduler.running and self.active:
            self.scheduler.modify_job("outbox", next_run_time=utcnow())

    def _expire(self, invitation_id: str) -> None:
        try:
            deadlines.expire_one(self.engine, self.policies, invitation_id, self.hooks)
        except Exception:
            log.exception("deadline.failed", invitation_id=invitation_id)

    def _sweep(self) -> None:
        try:
            deadlines.sweep(self.engine, self.policies, self.hooks)
        except Exception:
            log.exception("deadline.sweep_failed")

    def _snapshot(self) -> None:
        try:
            snapshots.snapshot_previous_day(self.engine)
        except Exception:
            log.exception("report.snapshot_failed")

    def _erase_expired(self) -> None:
        try:
            erased = retention.run(self.engine, self.policies)
            log.info("retention.erased", **erased.as_dict())
        except Exception:
            log.exception("retention.failed")

    def _deliver(self) -> None:
        try:
            self.courier.pump()
        except Exception:
            log.exception("outbox.failed")
