"""The nightly report snapshot: written once per day, anchored in the audit chain."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import col, select

from dispatcher import audit
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import AuditEvent
from dispatcher.reports import fairness, snapshots
from dispatcher.runtime import Runtime
from tests.support.clients import make_token
from tests.support.flows import accept_and_close, decline_pending, open_request


def test_the_snapshot_is_written_once_and_kept_in_the_chain(small: Runtime) -> None:
    make_token(small, "court", "Court One", territory="CEN")
    with unit_of_work(small.engine) as session:
        for i in range(3):
            request = open_request(session, small, f"S-{i}")
            if i == 0:
                decline_pending(session, small, request.id, "ill")
            accept_and_close(session, small, request.id)
    tomorrow = utcnow() + timedelta(days=1)
    first = snapshots.snapshot_previous_day(small.engine, now=tomorrow)
    again = snapshots.snapshot_previous_day(small.engine, now=tomorrow)
    assert first.written and first.territories == 2 and first.audit_seq is not None
    assert not again.written and again.audit_seq is None
    today = utcnow().date()
    with unit_of_work(small.engine) as session:
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == snapshots.ACTION)
        ).all()
        assert [e.entity_id for e in events] == [today.isoformat()]
        assert audit.verify(session).ok
        stored = snapshots.stored_report(session, today, "CEN")
        start, end = snapshots.day_bounds(today)
        live = fairness.fairness(session, "CEN", start, end)
        assert stored is not None and stored["decisions"] == live["decisions"] == 4
        assert stored["firms"] == json.loads(audit.canonical(live["firms"]))
        assert snapshots.compare_with_now(session, today, "CEN") == {
            "snapshot": True,
            "same": True,
            "changed": [],
        }
        payload = json.loads(events[0].payload)
        assert payload["sha256"] == snapshots.digest(payload["digests"])
        # A day before the history is snapshotted too (nothing happened in it).
    quiet = snapshots.snapshot_previous_day(small.engine, now=tomorrow - timedelta(days=3))
    assert quiet.written
    with unit_of_work(small.engine) as session:
        empty = snapshots.stored_report(session, quiet.day, "CEN")
        assert empty is not None and empty["decisions"] == 0


def test_an_altered_snapshot_is_detected(small: Runtime) -> None:
    run = snapshots.snapshot_previous_day(small.engine)
    assert run.written
    with small.engine.begin() as conn:
        payload = json.loads(
            conn.execute(
                text("SELECT payload FROM audit_event WHERE seq = :seq"), {"seq": run.audit_seq}
            ).scalar_one()
        )
        payload["reports"]["CEN"]["decisions"] = 99
        conn.execute(
            text("UPDATE audit_event SET payload = :p WHERE seq = :seq"),
            {"p": audit.canonical(payload), "seq": run.audit_seq},
        )
    with unit_of_work(small.engine) as session:
        assert snapshots.stored_report(session, run.day, "CEN") is None
        assert snapshots.stored_report(session, run.day, "NOR") is not None
        verification = audit.verify(session)
        assert not verification.ok and verification.first_bad is not None
        assert verification.first_bad["seq"] == run.audit_seq
