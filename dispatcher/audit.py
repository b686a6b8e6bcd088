"""Append-only, hash-chained audit events.

Each event's hash covers its sequence number, time, actor, action, entity, payload and the
previous event's hash; the head row remembers the last link, so an altered, removed, inserted
or truncated event breaks verification.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from dispatcher import events
from dispatcher.db import utcnow
from dispatcher.models import AuditEvent, AuditHead

GENESIS = "0" * 64


def canonical(payload: Any) -> str:
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def _digest(event: AuditEvent) -> str:
    body = canonical(
        {
            "seq": event.seq,
            "at": event.at.isoformat(),
            "actor": event.actor,
            "action": event.action,
            "entity_type": event.entity_type,
            "entity_id": event.entity_id,
            "request_id": event.request_id,
            "payload": event.payload,
            "prev_hash": event.prev_hash,
        }
    )
    return hashlib.sha256(body.encode()).hexdigest()


def lock_head(session: Session) -> AuditHead | None:
    """Take the chain's head for this transaction: appends are serialised in commit order.

    Every writing transaction appends to the chain, so this is the one lock they all share;
    allocation takes it before any other lock it needs, which gives every transaction the same
    lock order (request, chain head, territories, lawyer) and PostgreSQL no deadlock to break.
    """
    return session.get(AuditHead, 1, with_for_update={"key_share": True}, populate_existing=True)


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
    """Append one event to the chain inside the caller's transaction."""
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
        session.add(AuditHead(id=1, seq=seq, hash=event.hash))
    else:
        head.seq, head.hash = seq, event.hash
        session.add(head)
    session.flush()
    if request_id is not None:
        events.changed(session, request_id, action)
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    first_bad: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "events": self.events}
        if self.first_bad is not None:
            out["first_bad"] = self.first_bad
        return out


def verify(session: Session, batch: int = 5000) -> Verification:
    """Walk the whole chain; report the first event that does not link or hash correctly."""
    expected_seq, prev = 1, GENESIS
    count = 0
    last_seq = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.seq) > last_seq)
            .order_by(col(AuditEvent.seq))
            .limit(batch)
        ).all()
        if not rows:
            break
        for event in rows:
            problem = None
            if event.seq != expected_seq:
                problem = f"sequence gap: expected {expected_seq}"
            elif event.prev_hash != prev:
                problem = "previous hash does not match"
            elif _digest(event) != event.hash:
                problem = "content does not match its hash"
            if problem:
                return Verification(False, count, {"seq": event.seq, "problem": problem})
            prev, expected_seq, last_seq = event.hash, event.seq + 1, event.seq
            count += 1
    head = session.get(AuditHead, 1)
    if head is None:
        if count:
            return Verification(False, count, {"seq": None, "problem": "chain head is missing"})
    elif head.seq != last_seq or head.hash != prev:
        return Verification(
            False, count, {"seq": head.seq, "problem": "events after the last one are missing"}
        )
    return Verification(True, count)
