"""The lapse pause: a lawyer who lets invitations lapse is paused for a bounded time.

Within a firm the lawyer furthest below their own entitlement is invited first
(`policies.quota.order_lawyers`): a lawyer's answering record never moves them down the queue
without bound (a detention goes first to the lawyers who let no invitation lapse within
`within_hours`, only within `[pause] answering_reach` of the one furthest below). Instead,
after `[pause] lapses` expired invitations within `within_hours`, the lawyer gets no
invitation for `pause_hours` (the pool excludes them as `paused`, so they earn no entitlement
meanwhile either). Lapses before the end of a pause never count towards the next.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from dispatcher.allocation.statements import EXPIRED
from dispatcher.models import LawyerPause
from policies.config import Policy


def latest_pause(session: Session, *, lawyer_id: int) -> LawyerPause | None:
    """The lawyer's last pause (past, current or none)."""
    return session.exec(
        select(LawyerPause)
        .where(LawyerPause.lawyer_id == lawyer_id)
        .order_by(col(LawyerPause.ends_at).desc())
        .limit(1)
    ).first()


def current_pause(session: Session, *, lawyer_id: int, now: datetime) -> LawyerPause | None:
    """The pause the lawyer is in at `now`, if any."""
    last = latest_pause(session, lawyer_id=lawyer_id)
    return last if last is not None and last.starts_at <= now < last.ends_at else None


def after_lapse(
    session: Session, *, lawyer_id: int, now: datetime, policy: Policy
) -> LawyerPause | None:
    """Pause the lawyer when the lapse just recorded makes `policy.pause.lapses` within the
    window (counted since the end of their last pause); the new pause, or None.

    Called in the transaction that expired the invitation, after its status changed.
    """
    rule = policy.pause
    if rule.lapses == 0:
        return None
    last = latest_pause(session, lawyer_id=lawyer_id)
    if last is not None and last.ends_at > now:
        return None  # paused already (a lapse of an invitation sent before the pause)
    since = now - timedelta(hours=rule.within_hours)
    if last is not None and last.ends_at > since:
        since = last.ends_at
    counted = session.execute(EXPIRED, {"lawyers": [lawyer_id], "since": since}).all()
    lapses = int(counted[0][1]) if counted else 0
    if lapses < rule.lapses:
        return None
    pause = LawyerPause(
        lawyer_id=lawyer_id,
        starts_at=now,
        ends_at=now + timedelta(hours=rule.pause_hours),
        lapses=lapses,
    )
    session.add(pause)
    return pause
