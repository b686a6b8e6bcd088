"""Everything a running process holds: settings, engine, policies, courier, jobs, Redis."""

from __future__ import annotations

import gc
import hashlib
import random
from dataclasses import dataclass, field

import structlog
from sqlalchemy.engine import Engine

from dispatcher import allocation, events, workflow
from dispatcher.config import Settings
from dispatcher.db import create_schema, make_engine, unit_of_work
from dispatcher.notifications import AppriseChannel, InvitationFollowUp
from dispatcher.outbox import Courier, NotificationChannel
from dispatcher.ratelimit import RateLimiter
from dispatcher.redis_link import RedisLink
from dispatcher.scheduler import Jobs
from policies.config import PolicyBook, load_policy_book

log = structlog.get_logger(__name__)

# Who ends an invitation that reached nobody, in the audit.
OUTBOX_ACTOR = "system:outbox"


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
    # Hooks of the process's own, besides its scheduler's (a test listening in adds some).
    extra_hooks: workflow.Hooks = workflow.NO_HOOKS

    @property
    def hooks(self) -> workflow.Hooks:
        """Whom the flows run by this process tell after each commit: its scheduler, if any."""
        own = self.jobs.hooks if self.jobs is not None else workflow.NO_HOOKS
        return own + self.extra_hooks

    def context(self, actor: str, shuffle: random.Random | None = None) -> workflow.Context:
        """The workflow's context for an actor of this process: its policies and its hooks."""
        return workflow.Context(self.policies, actor, shuffle=shuffle, hooks=self.hooks)

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
        # Invitations leave through apprise (e-mail, SMS...) unless the caller brings a channel.
        channel = channel or AppriseChannel(engine, settings=settings, policies=policies)
        courier = Courier(
            engine,
            channel=channel,
            timeout_s=settings.callback_timeout_s,
            parallel=settings.outbox_parallel,
            policies=policies,
        )
        link = RedisLink(settings.redis_url) if settings.redis_url else None
        broker = events.Broker(link)
        events.attach(engine, broker)
        deployment = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
        limiter = RateLimiter(settings.rate_limit_per_minute, link, namespace=deployment)
        runtime = cls(settings, engine, policies, courier, broker, limiter, link)
        courier.follow_up = InvitationFollowUp(lambda: runtime.context(OUTBOX_ACTOR))
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
        if self.settings.prime_registry and not self.started:
            self.prime_registry()
        if self.jobs is not None and not self.started:
            self.jobs.start()
        self.started = True

    def prime_registry(self) -> int:
        """Read every territory's registry facts now, and the rotation's optimum bound for each
        territory's firms (`allocation.prime_bounds`); then move what the process holds out of
        the cyclic collector's reach (`gc.freeze`, after a collection so that no garbage goes
        with it): the facts live as long as the registry's version, and a full collection
        walking them stalls a decision for as long as it takes. Returns the territories read."""
        with unit_of_work(self.engine) as session:
            territories = allocation.prime(session)
            bounds = allocation.prime_bounds(session, self.policies.for_territory)
        gc.collect()
        gc.freeze()
        log.info(
            "registry.primed",
            territories=territories,
            optimum_bounds=bounds,
            frozen=gc.get_freeze_count(),
        )
        return territories

    def stop(self) -> None:
        if self.jobs is not None:
            self.jobs.shutdown()
        self.courier.close()
        if self.redis is not None:
            self.redis.close()
        self.engine.dispose()
        self.started = False
