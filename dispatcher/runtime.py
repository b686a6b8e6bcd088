"""Everything a running process holds: settings, engine, policies, courier, jobs, Redis."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from dispatcher import events
from dispatcher.config import Settings
from dispatcher.db import create_schema, make_engine
from dispatcher.outbox import Courier, NotificationChannel
from dispatcher.ratelimit import RateLimiter
from dispatcher.redis_link import RedisLink
from dispatcher.scheduler import Jobs
from policies.config import PolicyBook, load_policy_book


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    policies: PolicyBook
    courier: Courier
    broker: events.Broker
    limiter: RateLimiter
    redis: RedisLink | None = None
    jobs: Jobs | None = None
    started: bool = field(default=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        channel: NotificationChannel | None = None,
        *,
        scheduler: bool | None = None,
    ) -> Runtime:
        """Everything for one process; `scheduler` overrides the setting (the worker's)."""
        engine = make_engine(settings.database_url)
        create_schema(engine)
        policies = load_policy_book(settings.policy_file)
        courier = Courier(engine, channel=channel, timeout_s=settings.callback_timeout_s)
        link = RedisLink(settings.redis_url) if settings.redis_url else None
        broker = events.Broker(link)
        events.attach(engine, broker)
        limiter = RateLimiter(settings.rate_limit_per_minute, link)
        runtime = cls(settings, engine, policies, courier, broker, limiter, link)
        if settings.scheduler if scheduler is None else scheduler:
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
        if self.redis is not None:
            self.redis.close()
        self.engine.dispose()
        self.started = False
