"""Invariant 6: every deadline is honoured after a restart, and none is escalated twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from dispatcher import deadlines
from dispatcher.db import unit_of_work, utcnow
from dispatcher.errors import Conflict
from dispatcher.models import AuditEvent, Invitation, Request
from dispatcher.runtime import Runtime
from tests.support.clients import make_token
from tests.support.flows import accept_pending, runtime_at, submit_request
from tests.support.policies import policy_text
from tests.support.registries import load_registry, small_registry


def _invitations(rt: Runtime, request_id: str) -> list[tuple[str, str]]:
    with unit_of_work(rt.engine) as session:
        rows = session.exec(
            select(Invitation.id, Invitation.status)
            .where(Invitation.request_id == request_id)
            .order_by(col(Invitation.created_at))
        ).all()
        return [(i, s) for i, s in rows]


def _expiries(rt: Runtime, invitation_id: str) -> int:
    with unit_of_work(rt.engine) as session:
        return session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "invitation.expired", AuditEvent.entity_id == invitation_id)
        ).one()


def _backdate(rt: Runtime, invitation_id: str) -> None:
    with unit_of_work(rt.engine) as session:
        session.execute(
            update(Invitation)
            .where(col(Invitation.id) == invitation_id)
            .values(deadline=utcnow() - timedelta(minutes=5))
        )


def _runtime(tmp_path: Path, **over: Any) -> Runtime:
    """The service on the same database file each time, so that a new one is a restart."""
    return runtime_at(tmp_path / "restart.db", outbox_interval_s=0.2, **over)


def _first_runtime(tmp_path: Path, **over: Any) -> Runtime:
    """The first service on that file: it loads the small registry and makes a court's token."""
    rt = _runtime(tmp_path, **over)
    load_registry(rt, small_registry())
    make_token(rt, "court", "Court One", territory="CEN")
    return rt


def test_invitation_that_expired_while_down_is_escalated_once_on_restart(tmp_path: Path) -> None:
    first = _first_runtime(tmp_path, scheduler=True)
    first.start()
    request_id = submit_request(first, "R-1", urgency="detention")
    [(invitation_id, status)] = _invitations(first, request_id)
    assert status == "pending"
    first.stop()

    # The deadline passes while the service is down.
    _backdate(first, invitation_id)

    second = _runtime(tmp_path, scheduler=True)
    second.start()
    try:
        after = _invitations(second, request_id)
        assert after[0] == (invitation_id, "expired")
        assert [s for _, s in after[1:]] == ["pending"]
        assert _expiries(second, invitation_id) == 1
    finally:
        second.stop()

    # A second restart finds nothing to do: the escalation is not repeated.
    third = _runtime(tmp_path, scheduler=True)
    third.start()
    try:
        assert _invitations(third, request_id) == after
        assert _expiries(third, invitation_id) == 1
    finally:
        third.stop()


def test_racing_expiries_escalate_exactly_once(tmp_path: Path) -> None:
    rt = _first_runtime(tmp_path)
    ids = [submit_request(rt, f"R-{i}", urgency="detention") for i in range(4)]
    pending = [_invitations(rt, r)[0][0] for r in ids]
    for invitation_id in pending:
        _backdate(rt, invitation_id)

    results: list[int] = []
    barrier = threading.Barrier(4)

    def racer() -> None:
        barrier.wait()
        results.append(deadlines.sweep(rt.engine, rt.policies))

    threads = [threading.Thread(target=racer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == len(pending)
    for request_id, invitation_id in zip(ids, pending, strict=True):
        assert _expiries(rt, invitation_id) == 1
        statuses = [s for _, s in _invitations(rt, request_id)]
        assert statuses[0] == "expired"
        assert statuses.count("pending") == 1
    # Expiring an already expired invitation does nothing.
    assert deadlines.expire_one(rt.engine, rt.policies, pending[0]) is False
    rt.stop()


def test_armed_timer_escalates_without_a_sweep(tmp_path: Path) -> None:
    rt = _first_runtime(
        tmp_path,
        scheduler=True,
        policy_text=policy_text(version="fast", detention_s=1, standard_s=60, lapses=0),
        deadline_sweep_s=3600.0,
    )
    rt.start()
    try:
        request_id = submit_request(rt, "R-T", urgency="detention")
        [(invitation_id, _)] = _invitations(rt, request_id)
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up and _invitations(rt, request_id)[0][1] == "pending":
            time.sleep(0.1)
        assert _invitations(rt, request_id)[0] == (invitation_id, "expired")
        assert _expiries(rt, invitation_id) == 1
    finally:
        rt.stop()


def test_accept_after_deadline_is_refused(tmp_path: Path) -> None:
    rt = _first_runtime(tmp_path)
    request_id = submit_request(rt, "R-L", urgency="detention")
    [(invitation_id, _)] = _invitations(rt, request_id)
    _backdate(rt, invitation_id)
    with pytest.raises(Conflict), unit_of_work(rt.engine) as session:
        accept_pending(session, rt, request_id)
    with unit_of_work(rt.engine) as session:
        request = session.get(Request, request_id)
        assert request is not None and request.status == "inviting"
    rt.stop()
