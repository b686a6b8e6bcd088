"""Nightly snapshots of the fairness report, kept in the audit chain itself.

`snapshot_previous_day` is the scheduled job: it computes the previous UTC day's report for
every territory and appends one audit event holding each report (canonical JSON) with its
SHA-256 and a digest of them all. The chain hashes the event, so a later report can be checked
against what was known then, and an altered snapshot breaks the chain's verification; no table
of its own is needed. The job is idempotent: a day already written is left alone, and two runs
at once write it once (the chain's head is taken before the check).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NotRequired

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from typing_extensions import TypedDict

from dispatcher import audit
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import AuditEvent
from dispatcher.reports import fairness
from dispatcher.reports.rows import FairnessReport

log = structlog.get_logger(__name__)

ACTOR = "system:reports"
ACTION = "report.snapshot"


@dataclass(frozen=True)
class SnapshotRun:
    day: date
    written: bool
    territories: int
    audit_seq: int | None


class Comparison(TypedDict):
    """A day's snapshot against the report computed now; `same` only when there is one."""

    snapshot: bool
    same: NotRequired[bool]
    changed: list[str]


def digest(value: object) -> str:
    """SHA-256 of the value's canonical JSON (the audit chain's own encoding)."""
    return hashlib.sha256(audit.canonical(value).encode()).hexdigest()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[midnight, next midnight) of a UTC day."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _event(session: Session, day: date) -> AuditEvent | None:
    return session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.action) == ACTION, col(AuditEvent.entity_id) == day.isoformat())
        .order_by(col(AuditEvent.seq))
        .limit(1)
    ).first()


def snapshot_day(session: Session, day: date) -> SnapshotRun:
    """Append the reports of `day` for every territory in the caller's transaction, once."""
    audit.lock_head(session)  # serialises concurrent runs before the existence check
    if _event(session, day) is not None:
        return SnapshotRun(day, False, 0, None)
    start, end = day_bounds(day)
    snapshots = {
        code: _as_read(fairness.fairness(session, code, start, end))
        for code in fairness.territory_list(session)
    }
    digests = {code: digest(report) for code, report in snapshots.items()}
    event = audit.record(
        session,
        actor=ACTOR,
        action=ACTION,
        entity_type="report",
        entity_id=day.isoformat(),
        payload={
            "day": day.isoformat(),
            "sha256": digest(digests),
            "digests": digests,
            "reports": snapshots,
        },
    )
    return SnapshotRun(day, True, len(snapshots), event.seq)


def snapshot_previous_day(engine: Engine, *, now: datetime | None = None) -> SnapshotRun:
    """The nightly job: snapshot the UTC day before `now` (default: the present)."""
    day = (now or utcnow()).astimezone(UTC).date() - timedelta(days=1)
    with unit_of_work(engine) as session:
        run = snapshot_day(session, day)
    log.info(
        "report.snapshot",
        day=day.isoformat(),
        written=run.written,
        territories=run.territories,
        audit_seq=run.audit_seq,
    )
    return run


def _as_read(report: FairnessReport) -> FairnessReport:
    """The report as a reader of the chain gets it back (a round trip through its JSON)."""
    read: FairnessReport = json.loads(audit.canonical(report))
    return read


def stored_report(session: Session, day: date, territory: str) -> FairnessReport | None:
    """The report of `territory` as snapshotted for `day`, if its digest still matches."""
    event = _event(session, day)
    if event is None:
        return None
    payload = json.loads(event.payload)
    report: FairnessReport | None = payload["reports"].get(territory)
    if report is None or digest(report) != payload["digests"].get(territory):
        return None
    return report


def compare_with_now(session: Session, day: date, territory: str) -> Comparison:
    """The snapshot of a day against the same report computed today: which figures moved.

    Invitations of a day answered after midnight legitimately change its counts; anything
    else that moved says the history was rewritten.
    """
    then = stored_report(session, day, territory)
    start, end = day_bounds(day)
    now = _as_read(fairness.fairness(session, territory, start, end))
    if then is None:
        return {"snapshot": False, "changed": sorted(now)}
    return {
        "snapshot": True,
        "same": digest(then) == digest(now),
        "changed": sorted(k for k, v in now.items() if v != then.get(k)),
    }


class LatestSnapshot(TypedDict):
    """The newest daily snapshot in the audit chain: anyone may keep its digest to check later."""

    day: str
    sha256: str
    audit_seq: int
    audit_hash: str


def latest(session: Session) -> LatestSnapshot | None:
    """The newest daily snapshot's day, its digest of every territory's report, its link."""
    event = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.action) == ACTION)
        .order_by(col(AuditEvent.seq).desc())
        .limit(1)
    ).first()
    if event is None:
        return None
    payload = json.loads(event.payload)
    return {
        "day": str(payload["day"]),
        "sha256": str(payload["sha256"]),
        "audit_seq": event.seq,
        "audit_hash": event.hash,
    }
