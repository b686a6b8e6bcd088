"""The audit chain inside one transaction: the head is locked and read once, and the chain
still verifies across savepoints, rollbacks and several transactions of one session."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import delete, event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from dispatcher import audit
from dispatcher.db import unit_of_work
from dispatcher.models import AuditEvent, AuditHead, AuditKey
from dispatcher.runtime import Runtime


def note(session: Session, what: str) -> AuditEvent:
    return audit.record(
        session, actor="test", action="test.noted", entity_type="note", entity_id=what
    )


def chain(engine: Engine) -> tuple[bool, list[str]]:
    """Whether the chain verifies, and the notes it holds in order."""
    with unit_of_work(engine) as session:
        ok = audit.verify(session).ok
        notes = session.exec(
            select(AuditEvent.entity_id)
            .where(AuditEvent.action == "test.noted")
            .order_by(col(AuditEvent.seq))
        ).all()
    return ok, list(notes)


@contextmanager
def head_reads(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "audit_head" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_transaction_reads_the_head_once_and_links_every_event(small: Runtime) -> None:
    with head_reads(small.engine) as seen, unit_of_work(small.engine) as session:
        events = [note(session, f"n{i}") for i in range(5)]
        assert audit.lock_head(session) is not None  # allocation asks again: no new read
    assert len(seen) == 1
    assert [e.seq for e in events] == list(range(events[0].seq, events[0].seq + 5))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert chain(small.engine) == (True, [f"n{i}" for i in range(5)])
    with unit_of_work(small.engine) as session:
        head = session.get(AuditHead, 1)
        assert head is not None and (head.seq, head.hash) == (events[-1].seq, events[-1].hash)


def test_events_of_a_rolled_back_savepoint_leave_no_gap(small: Runtime) -> None:
    with unit_of_work(small.engine) as session:
        note(session, "before")
        savepoint = session.begin_nested()
        note(session, "dropped")
        savepoint.rollback()
        note(session, "after")
    assert chain(small.engine) == (True, ["before", "after"])


def test_a_head_first_locked_in_a_rolled_back_savepoint_is_taken_again(
    small: Runtime,
) -> None:
    with head_reads(small.engine) as seen, unit_of_work(small.engine) as session:
        savepoint = session.begin_nested()
        note(session, "dropped")
        savepoint.rollback()
        note(session, "kept")
    # The savepoint's lock went with it: the head is locked and read again.
    assert len(seen) == 2
    assert chain(small.engine) == (True, ["kept"])


def test_one_session_over_several_transactions_keeps_the_chain(small: Runtime) -> None:
    with Session(small.engine, expire_on_commit=False) as session:
        note(session, "first")
        session.commit()
        note(session, "rolled back")
        session.rollback()
        note(session, "second")
        session.commit()
    assert chain(small.engine) == (True, ["first", "second"])


def test_the_first_event_of_an_empty_chain_starts_it(runtime: Runtime) -> None:
    with unit_of_work(runtime.engine) as session:
        assert session.exec(select(func.count()).select_from(AuditEvent)).one() == 0
        assert audit.lock_head(session) is None
        first, second = note(session, "a"), note(session, "b")
    assert (first.seq, first.prev_hash) == (1, audit.GENESIS)
    assert second.prev_hash == first.hash
    assert chain(runtime.engine) == (True, ["a", "b"])


def test_the_kept_key_is_the_committed_one(runtime: Runtime) -> None:
    """The process keeps the deployment's key once a transaction that read it has committed;
    a key made in a transaction that rolls back is never kept."""
    with unit_of_work(runtime.engine) as session:
        session.execute(delete(AuditKey))  # a schema whose key is not made yet
    audit._KEYS.pop(runtime.engine, None)
    with pytest.raises(RuntimeError), unit_of_work(runtime.engine) as session:
        made = audit.deployment_key(session)
        raise RuntimeError("the caller fails")
    assert runtime.engine not in audit._KEYS
    with unit_of_work(runtime.engine) as session:
        kept = audit.deployment_key(session)
        row = session.get(AuditKey, 1)
        assert row is not None and kept == bytes.fromhex(row.key) and kept != made
    assert audit._KEYS[runtime.engine] == kept
    with unit_of_work(runtime.engine) as session:
        assert audit.keyed(session, {"a": 1}) == audit.keyed(session, {"a": 1})
        assert audit.deployment_key(session) == kept
