"""Append-only, hash-chained audit events.

Each event's hash covers its sequence number, time, actor, action, entity, payload and the
previous event's hash; the head row remembers the last link, so an altered, removed, inserted
or truncated event breaks verification.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired

from sqlalchemy import String, type_coerce
from sqlalchemy import select as select_columns
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select
from typing_extensions import TypedDict

from dispatcher import events
from dispatcher.db import utcnow
from dispatcher.models import AuditEvent, AuditHead

GENESIS = "0" * 64
# Where a session keeps the head it has locked, with the transaction that holds the lock.
HEAD_KEY = "audit_head"


def canonical(payload: Any) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def _digest(event: AuditEvent) -> str:
    return _digest_of(
        seq=event.seq,
        at=event.at,
        actor=event.actor,
        action=event.action,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        request_id=event.request_id,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )


def _digest_of(*, at: datetime, **fields: object) -> str:
    body = canonical({**fields, "at": at.isoformat()})
    return hashlib.sha256(body.encode()).hexdigest()


def lock_head(session: Session) -> AuditHead | None:
    """Take the chain's head for this transaction: appends are serialised in commit order.

    Every writing transaction appends to the chain, so this is the one lock they all share;
    allocation takes it before any other lock it needs, which gives every transaction the same
    lock order (request, chain head, territories, lawyer) and PostgreSQL no deadlock to break.
    The first call in a transaction locks and reads the row; later calls in the same
    transaction (or a savepoint inside it) return the same object, which only this
    transaction can have changed since.
    """
    held = _held_head(session)
    if held is not None:
        return held
    head = session.get(AuditHead, 1, with_for_update={"key_share": True}, populate_existing=True)
    if head is not None:
        _hold(session, head)
    return head


def _current_transaction(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _hold(session: Session, head: AuditHead) -> None:
    # Kept with the innermost transaction: a savepoint rolled back releases what it locked.
    session.info[HEAD_KEY] = (_current_transaction(session), head)


def _held_head(session: Session) -> AuditHead | None:
    """The head this transaction already holds locked, if any."""
    held: tuple[SessionTransaction | None, AuditHead] | None = session.info.get(HEAD_KEY)
    if held is None:
        return None
    holder, head = held
    transaction = _current_transaction(session)
    while transaction is not None:
        if transaction is holder:
            return head if transaction.is_active and head in session else None
        transaction = transaction.parent
    del session.info[HEAD_KEY]  # taken in a transaction that has ended
    return None


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str | int,
    payload: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction.

    The event and the head are written with the transaction's next flush (at the latest its
    commit); the sequence number and hash are known at once.
    """
    head = lock_head(session)
    seq, prev = (head.seq + 1, head.hash) if head else (1, GENESIS)
    event = AuditEvent(
        seq=seq,
        at=utcnow(),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        request_id=request_id,
        payload=canonical(payload or {}),
        prev_hash=prev,
        hash="",
    )
    event.hash = _digest(event)
    session.add(event)
    if head is None:
        head = AuditHead(id=1, seq=seq, hash=event.hash)
        session.add(head)
        _hold(session, head)
    else:
        head.seq, head.hash = seq, event.hash
    if request_id is not None:
        events.changed(session, request_id, action)
    return event


def trail(
    session: Session, *, request_id: str | None = None, after: int = 0, limit: int | None = None
) -> list[AuditEvent]:
    """Events in chain order after sequence number `after`: all, or one request's."""
    query = select(AuditEvent).where(col(AuditEvent.seq) > after)
    if request_id is not None:
        query = query.where(AuditEvent.request_id == request_id)
    return list(session.exec(query.order_by(col(AuditEvent.seq)).limit(limit)).all())


class BrokenLink(TypedDict):
    """Where the chain breaks first: the event (None when the head itself is missing), and how."""

    seq: int | None
    problem: str


class VerificationAnswer(TypedDict):
    ok: bool
    events: int
    first_bad: NotRequired[BrokenLink]


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    first_bad: BrokenLink | None = None

    def as_dict(self) -> VerificationAnswer:
        out: VerificationAnswer = {"ok": self.ok, "events": self.events}
        if self.first_bad is not None:
            out["first_bad"] = self.first_bad
        return out


# The columns verification reads, the time as stored: a row altered behind the service's back
# may hold a value that no longer parses, and that is a broken link to report, not a crash.
_STORED = (
    col(AuditEvent.seq),
    type_coerce(col(AuditEvent.at), String).label("at"),
    col(AuditEvent.actor),
    col(AuditEvent.action),
    col(AuditEvent.entity_type),
    col(AuditEvent.entity_id),
    col(AuditEvent.request_id),
    col(AuditEvent.payload),
    col(AuditEvent.prev_hash),
    col(AuditEvent.hash),
)


def _stored_time(session: Session) -> Callable[[object], datetime]:
    """Reads a stored `at` as the model does; ValueError (or TypeError) when it does not parse."""
    dialect = session.get_bind().dialect
    column_type = AuditEvent.__table__.c.at.type  # type: ignore[attr-defined]
    process = column_type.dialect_impl(dialect).result_processor(dialect, None)

    def read(raw: object) -> datetime:
        value = process(raw) if process is not None else raw
        if not isinstance(value, datetime):
            raise TypeError("not a time")
        return value

    return read


def verify(session: Session, batch: int = 5000) -> Verification:
    """Walk the whole chain; report the first event that does not link, hash or even parse."""
    read_time = _stored_time(session)
    expected_seq, prev = 1, GENESIS
    count = 0
    last_seq = 0
    while True:
        rows = session.execute(
            select_columns(*_STORED)
            .where(col(AuditEvent.seq) > last_seq)
            .order_by(col(AuditEvent.seq))
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            seq = row.seq
            problem = None
            if seq != expected_seq:
                problem = f"sequence gap: expected {expected_seq}"
            elif row.prev_hash != prev:
                problem = "previous hash does not match"
            else:
                try:
                    at = read_time(row.at)
                except (ValueError, TypeError, OverflowError):
                    problem = "a stored value does not parse"
                else:
                    digest = _digest_of(
                        seq=seq,
                        at=at,
                        actor=row.actor,
                        action=row.action,
                        entity_type=row.entity_type,
                        entity_id=row.entity_id,
                        request_id=row.request_id,
                        payload=row.payload,
                        prev_hash=row.prev_hash,
                    )
                    if digest != row.hash:
                        problem = "content does not match its hash"
            if problem:
                bad = seq if isinstance(seq, int) else None
                return Verification(False, count, {"seq": bad, "problem": problem})
            prev, expected_seq, last_seq = row.hash, seq + 1, seq
            count += 1
    head = session.get(AuditHead, 1)
    if head is None:
        if count:
            return Verification(False, count, {"seq": None, "problem": "chain head is missing"})
    elif head.seq != last_seq or head.hash != prev:
        seq = head.seq if isinstance(head.seq, int) else None
        return Verification(
            False, count, {"seq": seq, "problem": "events after the last one are missing"}
        )
    return Verification(True, count)
