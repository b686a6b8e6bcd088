"""Everything a running process holds: settings, engine, policies, courier and jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from dispatcher.config import Settings
from dispatcher.db import create_schema, make_engine
from dispatcher.outbox import Courier, NotificationChannel
from dispatcher.scheduler import Jobs
from policies.config import PolicyBook, load_policy_book


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    policies: PolicyBook
    courier: Courier
    jobs: Jobs | None = None
    started: bool = field(default=False)

    @classmethod
    def build(cls, settings: Settings, channel: NotificationChannel | None = None) -> Runtime:
        engine = make_engine(settings.database_url)
        create_schema(engine)
        policies = load_policy_book(settings.policy_file)
        courier = Courier(engine, channel=channel, timeout_s=settings.callback_timeout_s)
        runtime = cls(settings, engine, policies, courier)
        if settings.scheduler:
            runtime.jobs = Jobs(
                engine,
                policies,
                courier,
                outbox_interval_s=settings.outbox_interval_s,
                sweep_interval_s=settings.deadline_sweep_s,
            )
        return runtime

    def start(self) -> None:
        if self.jobs is not None and not self.started:
            self.jobs.start()
        self.started = True

    def stop(self) -> None:
        if self.jobs is not None:
            self.jobs.shutdown()
        self.courier.http.close()
        self.engine.dispose()
        self.started = False
