"""After each try of an invitation's notification: the invitation's `delivery`, and when the
courier gives up — the invitation is then `undeliverable` and the next lawyer is invited.

Permanent: no channel at all (or none that apprise accepts). Otherwise the courier keeps
trying, with backoff but never past the policy's bound (`[notifications]`), until every
channel failed `give_up_attempts` times or for `<urgency>_give_up_s` seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import update
from sqlmodel import Session, col

from dispatcher import workflow
from dispatcher.db import utcnow
from dispatcher.models import Invitation, OutboxMessage, Request, Territory
from dispatcher.outbox import Attempt, backoff_s
from policies.vocabulary import DeliveryStatus


def _why(
    attempts: Sequence[Attempt], tries: int, failing_s: float, limit_s: int, most: int
) -> str | None:
    failed = [attempt for attempt in attempts if not attempt.ok]
    if failed and all(attempt.permanent for attempt in failed):
        return "; ".join(sorted({attempt.error or attempt.channel for attempt in failed}))
    if tries >= most:
        return f"every channel failed {tries} attempts"
    if failing_s >= limit_s:
        return f"every channel failed for {int(failing_s)} s"
    return None


class InvitationFollowUp:
    """`context` gives the workflow's context of the running process (its hooks arm the next
    invitation's deadline)."""

    def __init__(self, context: Callable[[], workflow.Context]) -> None:
        self.context = context

    def settle(
        self,
        session: Session,
        message: OutboxMessage,
        *,
        tries: int,
        attempts: Sequence[Attempt],
        delivered: bool,
    ) -> float | None:
        withdrawn = bool(message.payload.get("withdrawn"))
        invitation_id = message.payload.get("invitation_id")
        if delivered:
            if not withdrawn:
                self._mark(session, invitation_id, DeliveryStatus.DELIVERED)
            return None
        invitation = session.get(Invitation, invitation_id)
        request = session.get(Request, invitation.request_id) if invitation else None
        territory = session.get(Territory, request.territory_id) if request else None
        if invitation is None or request is None or territory is None:
            return backoff_s(tries)
        ctx = self.context()
        rules = ctx.policy(territory.code).notifications
        limit_s = rules.give_up_s(request.urgency)
        failing_s = (utcnow() - message.created_at).total_seconds()
        why = _why(attempts, tries, failing_s, limit_s, rules.give_up_attempts)
        if why is None:
            # Never wait past the bound: the last try falls on it.
            return max(0.0, min(backoff_s(tries), limit_s - failing_s))
        if not withdrawn:
            self._mark(session, invitation.id, DeliveryStatus.FAILED)
            channels = sorted({attempt.channel for attempt in attempts})
            workflow.undeliverable(session, invitation.id, ctx, why=why, channels=channels)
        return None

    @staticmethod
    def _mark(session: Session, invitation_id: object, delivery: DeliveryStatus) -> None:
        session.execute(
            update(Invitation).where(col(Invitation.id) == invitation_id).values(delivery=delivery)
        )
