"""The in-process scheduler (APScheduler): deadline timers, deadline sweeps, outbox delivery."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from dispatcher import deadlines, workflow
from dispatcher.db import utcnow
from dispatcher.outbox import Courier
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
        sweep_interval_s: float = 30.0,
    ) -> None:
        self.engine = engine
        self.policies = policies
        self.courier = courier
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self.outbox_interval_s = outbox_interval_s
        self.sweep_interval_s = sweep_interval_s

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        """Escalate what expired while we were down, re-arm every timer, then run."""
        escalated = deadlines.sweep(self.engine, self.policies)
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
        self.scheduler.add_job(
            self._sweep,
            "interval",
            seconds=self.sweep_interval_s,
            id="deadline-sweep",
            max_instances=1,
            coalesce=True,
        )
        workflow.invitation_listeners.append(self.arm)
        workflow.outbox_listeners.append(self.wake_outbox)
        self.scheduler.start()

    def shutdown(self) -> None:
        if self.arm in workflow.invitation_listeners:
            workflow.invitation_listeners.remove(self.arm)
        if self.wake_outbox in workflow.outbox_listeners:
            workflow.outbox_listeners.remove(self.wake_outbox)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

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
        if self.scheduler.running:
            self.scheduler.modify_job("outbox", next_run_time=utcnow())

    def _expire(self, invitation_id: str) -> None:
        try:
            deadlines.expire_one(self.engine, self.policies, invitation_id)
        except Exception:
            log.exception("deadline.failed", invitation_id=invitation_id)

    def _sweep(self) -> None:
        try:
            deadlines.sweep(self.engine, self.policies)
        except Exception:
            log.exception("deadline.sweep_failed")

    def _deliver(self) -> None:
        try:
            self.courier.deliver_due()
        except Exception:
            log.exception("outbox.failed")
