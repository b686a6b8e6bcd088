"""Append-only, hash-chained audit events.

Each event's hash covers its sequence number, time, actor, action, entity, payload and the
previous event's hash; the head row remembers the last link, so an altered, removed, inserted
or truncated event breaks verification.

Personal data (a person's name, the own counsel's name, the contact to call) never enters an
event: events keep readable facts ("contact_given", "own_counsel_given") and commit to the
personal values only through `keyed` (HMAC-SHA256 under the deployment's key), while the values
themselves live in their rows (`request`, `choice`), which the retention period erases
(`dispatcher.retention`). The event's own hash covers the keyed hash, never the data, so
erasing the data leaves every event verifiable; while the data is kept, the key tells whether
a row still holds the values the chain committed to (an identical retry of a request does so).

The key is made once and kept in a table of its own (`audit_key`), not in a setting
(`DISPATCHER_AUDIT_KEY`): every process of a deployment (API workers, the worker, the CLI)
shares the database and so finds the same key with no configuration to keep in step, a backup
restores the key with the commitments it checks, and no operator can lose or change it and so
turn every retry of an earlier request into a conflict. Retention never erases it: without the
key the commitments of the kept rows could no longer be checked. What the keyed hash protects
against is a reader of the chain (the bar, requesters, an export) guessing names against an
unkeyed digest; a holder of the whole database holds the key too.

The scheme of the event hash is the one the chain always had: events written before keyed
hashes carry `payload_sha256` (an unkeyed digest of the request body, which includes the name)
and verify as before; events from then on carry `payload_hmac`. The old digests cannot be
rewritten without breaking the chain; they are the chain's history.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired
from weakref import WeakKeyDictionary

from sqlalchemy import String, type_coerce
from sqlalchemy import select as select_columns
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col
from typing_extensions import TypedDict

from dispatcher import events
from dispatcher.db import after_commit, utcnow
from dispatcher.models import AuditEvent, AuditHead, AuditKey

GENESIS = "0" * 64
_INSERT_EVENT = AuditEvent.__table__.insert()  # type: ignore[attr-defined]
# Where a session keeps the head it has locked, with the transaction that holds the lock.
HEAD_KEY = "audit_head"


def canonical(payload: Any) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


# Per engine (database): the deployment's key, once a transaction that read it has committed.
_KEYS: WeakKeyDictionary[Engine, bytes] = WeakKeyDictionary()


def deployment_key(session: Session) -> bytes:
    """The deployment's key of keyed hashes: made once (by the migration, or here on a schema
    made from the models) and never changed, so a process keeps it once a transaction that
    read it (or made it) has committed."""
    engine = session.get_bind().engine
    kept = _KEYS.get(engine)
    if kept is not None:
        return kept
    row = session.get(AuditKey, 1)
    if row is None:
        try:
            with session.begin_nested():
                session.add(AuditKey(id=1, key=secrets.token_hex(32)))
                session.flush()
        except IntegrityError:
            pass  # another transaction made it first: read that one
        row = session.get(AuditKey, 1)
        assert row is not None
    key = bytes.fromhex(row.key)

    def keep() -> None:
        _KEYS.setdefault(engine, key)

    after_commit(session, keep)
    return key


def keyed(session: Session, value: object) -> str:
    """HMAC-SHA256 of the value's canonical JSON under the deployment's key: how the chain
    commits to personal data without holding it or a digest anyone could test guesses against."""
    return hmac.new(deployment_key(session), canonical(value).encode(), hashlib.sha256).hexdigest()


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

    The event is written at once, the head with the transaction's next flush (at the latest
    its commit); the sequence number and hash are known at once.
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
    # Written at once in one statement, not through the ORM's flush (which cost several
    # times the statement on every order); the head is flushed with the transaction.
    session.connection().execute(
        _INSERT_EVENT,
        {
            "seq": event.seq,
            "at": event.at,
            "actor": event.actor,
            "action": event.action,
            "entity_type": event.entity_type,
            "entity_id": event.entity_id,
            "request_id": event.request_id,
            "payload": event.payload,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        },
    )
    if head is None:
        head = AuditHead(id=1, seq=seq, hash=event.hash)
        session.add(head)
        _hold(session, head)
    else:
        head.seq, head.hash = seq, event.hash
    if request_id is not None:
        events.changed(session, request_id, action)
    return event


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored. A row altered behind the service's back may hold a value that no
    longer parses: it is still listed, with `damaged` saying so (verification reports it)."""

    seq: int
    at: datetime | None
    stored_at: str
    actor: str
    action: str
    entity_type: str
    entity_id: str
    request_id: str | None
    payload: dict[str, Any]
    stored_payload: str
    prev_hash: str
    hash: str
    damaged: str | None = None


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def trail(
    session: Session, *, request_id: str | None = None, after: int = 0, limit: int | None = None
) -> list[StoredEvent]:
    """Events in chain order after sequence number `after`: all, or one request's."""
    query = select_columns(*_STORED).where(col(AuditEvent.seq) > after)
    if request_id is not None:
        query = query.where(col(AuditEvent.request_id) == request_id)
    read_time = _stored_time(session)
    events = []
    for row in session.execute(query.order_by(col(AuditEvent.seq)).limit(limit)).all():
        damaged = []
        try:
            at: datetime | None = read_time(row.at)
        except (ValueError, TypeError, OverflowError):
            at = None
            damaged.append("at")
        try:
            payload = json.loads(str(row.payload), parse_constant=_refuse_constant)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            payload = {}
            damaged.append("payload")
        events.append(
            StoredEvent(
                seq=row.seq,
                at=at,
                stored_at=str(row.at),
                actor=str(row.actor),
                action=str(row.action),
                entity_type=str(row.entity_type),
                entity_id=str(row.entity_id),
                request_id=None if row.request_id is None else str(row.request_id),
                payload=payload,
                stored_payload=str(row.payload),
                prev_hash=str(row.prev_hash),
                hash=str(row.hash),
                damaged=f"does not parse: {', '.join(damaged)}" if damaged else None,
            )
        )
    return events


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
