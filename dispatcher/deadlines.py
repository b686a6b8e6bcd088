"""Deadlines: stored with each invitation, armed as timers, swept at start-up and periodically.

The database is the truth; the in-process timers are only a way to act on time. At start-up
every overdue invitation is escalated, and every future one gets a timer again. Expiry is
guarded in the database, so a timer, a sweep and another process racing on the same
invitation escalate it once.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from prometheus_client import Counter
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from dispatcher import workflow
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import Invitation
from policies.config import PolicyBook
from policies.vocabulary import InvitationStatus

log = structlog.get_logger(__name__)

EXPIRED = Counter("dispatcher_invitations_expired_total", "Invitations escalated on expiry")
SYSTEM = "system:deadlines"


def expire_one(
    engine: Engine,
    policies: PolicyBook,
    invitation_id: str,
    hooks: workflow.Hooks = workflow.NO_HOOKS,
) -> bool:
    """Expire and escalate one invitation if it is overdue and still pending; `hooks` hear of
    the next invitation the escalation sends."""
    with unit_of_work(engine) as session:
        ctx = workflow.Context(policies, SYSTEM, hooks=hooks)
        done = workflow.expire(session, invitation_id, ctx)
    if done:
        EXPIRED.inc()
        log.info("invitation.expired", invitation_id=invitation_id)
    return done


def overdue(engine: Engine, limit: int = 500) -> list[str]:
    with unit_of_work(engine) as session:
        return list(
            session.exec(
                select(Invitation.id)
                .where(
                    Invitation.status == InvitationStatus.PENDING,
                    col(Invitation.deadline) <= utcnow(),
                )
                .order_by(col(Invitation.deadline))
                .limit(limit)
            ).all()
        )


def pending_deadlines(engine: Engine) -> list[tuple[str, datetime]]:
    with unit_of_work(engine) as session:
        rows = session.exec(
            select(Invitation.id, Invitation.deadline).where(
                Invitation.status == InvitationStatus.PENDING
            )
        ).all()
        return [(i, d) for i, d in rows]


def sweep(engine: Engine, policies: PolicyBook, hooks: workflow.Hooks = workflow.NO_HOOKS) -> int:
    """Escalate every overdue invitation; returns how many this call escalated."""
    total = 0
    while True:
        batch = overdue(engine)
        done = sum(
            1 for invitation_id in batch if expire_one(engine, policies, invitation_id, hooks)
        )
        total += done
        if len(batch) < 500 or done == 0:
            return total
