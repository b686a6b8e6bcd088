"""Messages that leave the service: written in the transaction that causes them, sent after.

Delivery claims a message with a guarded UPDATE (a lease), sends it outside any transaction,
then marks it delivered or schedules a retry with exponential backoff. A message is sent at
least once; each carries its id as an idempotency key so receivers can drop repeats.

A court callback is signed per Standard Webhooks with its requester's secret: `webhook-id` (the
outbox message's, the same on every retry, like `Idempotency-Key`), `webhook-timestamp` and
`webhook-signature` over the exact body bytes sent.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import psycopg
import structlog
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from dispatcher import audit, destinations
from dispatcher.db import unit_of_work, utcnow
from dispatcher.models import OutboxAttempt, OutboxMessage, Request, Requester
from dispatcher.tokens import ensure_webhook_secret
from policies.config import PolicyBook
from policies.vocabulary import OutboxKind, OutboxStatus

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=60)
# Who gives up on a callback, in the audit.
CALLBACK_ACTOR = "system:outbox"
MAX_BACKOFF_S = 3600.0


@dataclass(frozen=True)
class Attempt:
    """One channel's try: `channel` names it without credentials or addresses (scheme and
    host), `error` says briefly why it failed. `permanent`: trying again cannot help."""

    channel: str
    ok: bool
    error: str | None = None
    permanent: bool = False


@dataclass(frozen=True)
class Sent:
    """A claimed message's try: its attempts and error (None: delivered), whether trying again
    cannot help, and once recorded, the message's new columns."""

    message: OutboxMessage
    attempts: Sequence[Attempt]
    error: str | None
    refused: bool
    values: dict[str, Any] = field(default_factory=dict)


class NotificationChannel(Protocol):
    """How an invitation reaches a lawyer (SMS, e-mail, push...).

    `send` raises when nothing was sent; a channel that tries several ways returns each
    attempt (the courier records them), one that returns None simply sent it."""

    def send(self, lawyer: str, message: dict[str, Any]) -> Sequence[Attempt] | None: ...


class LogChannel:
    """Writes the notification to the structured log (ids only): where invitations go when no
    way to reach lawyers is configured, in development."""

    def send(self, lawyer: str, message: dict[str, Any]) -> Sequence[Attempt] | None:
        log.info(
            "notification.sent",
            lawyer=lawyer,
            invitation_id=message.get("invitation_id"),
            request_id=message.get("request_id"),
            deadline=message.get("deadline"),
        )
        return None


class FollowUp(Protocol):
    """What becomes of an invitation's notification after a try, in the transaction that
    records it: the invitation's delivery, and when the courier gives up."""

    def settle(
        self,
        session: Session,
        message: OutboxMessage,
        *,
        tries: int,
        attempts: Sequence[Attempt],
        delivered: bool,
    ) -> float | None:
        """Seconds until the next try of a failed message, or None: give up (it failed)."""
        ...


# PostgreSQL's channel on which a commit that filled the outbox rings (see `OutboxBell`).
BELL = "dispatcher_outbox"


def enqueue(session: Session, *, kind: str, target: str, payload: dict[str, Any]) -> None:
    """Add a message to the outbox inside the caller's transaction.

    On PostgreSQL the transaction also rings the outbox's bell: a NOTIFY is delivered when the
    transaction commits and never when it rolls back (several in one transaction ring once), so
    the delivering process, often another one, starts at once instead of at its next poll."""
    session.add(OutboxMessage(kind=kind, target=target, payload=payload))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": BELL})


def backoff_s(attempts: int) -> float:
    return float(min(MAX_BACKOFF_S, 2 ** min(attempts, 20)))


class Courier:
    """Delivers due outbox messages."""

    def __init__(
        self,
        engine: Engine,
        channel: NotificationChannel | None = None,
        http: httpx.Client | None = None,
        timeout_s: float = 10.0,
        follow_up: FollowUp | None = None,
        parallel: int = 1,
        policies: PolicyBook | None = None,
        resolver: destinations.Resolver = destinations.resolve,
    ) -> None:
        self.engine = engine
        # How often a callback is tried before it fails (none: for ever), and how its host is
        # resolved for the destination check.
        self.policies = policies
        self.resolver = resolver
        self.parallel = parallel
        self._pool: ThreadPoolExecutor | None = None
        # Messages handed to the delivery threads and not yet done (see `pump`).
        self._in_flight: set[int] = set()
        self._in_flight_lock = threading.Lock()
        # Whether messages may be due that no thread had room for (a finishing thread claims).
        self._more = False
        self._closing = False
        # Tries sent and not yet recorded, and the lock of the one thread recording them.
        self._finished: queue.SimpleQueue[Sent] = queue.SimpleQueue()
        self._recording = threading.Lock()
        self.channel: NotificationChannel = channel or LogChannel()
        self.http = http or httpx.Client(timeout=timeout_s)
        # Invitations' follow-up (delivery, giving up); without one they are retried for ever.
        self.follow_up = follow_up
        self._senders: dict[str, Callable[[OutboxMessage], Sequence[Attempt] | None]] = {
            OutboxKind.INVITATION: self._send_invitation,
            OutboxKind.CALLBACK: self._send_callback,
        }

    def _send_invitation(self, message: OutboxMessage) -> Sequence[Attempt] | None:
        # The message's id rides along for channels that mark what they send with it.
        return self.channel.send(message.target, message.payload | {"outbox_id": message.id})

    def _send_callback(self, message: OutboxMessage) -> None:
        secret, prefixes = self._requester_of(message)
        # Checked at each attempt: a registration withdrawn, or a name that resolves elsewhere
        # since the request was filed, stops the callback (`destinations.Refused`: permanent).
        destinations.check(message.target, prefixes, resolver=self.resolver)
        message_id = f"outbox-{message.id}"
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":"))
        now = datetime.now(UTC)
        response = self.http.post(
            message.target,
            content=body.encode(),
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": message_id,
                "webhook-id": message_id,
                "webhook-timestamp": str(math.floor(now.timestamp())),
                "webhook-signature": Webhook(secret).sign(message_id, now, body),
            },
            follow_redirects=False,
        )
        if not response.is_success:
            raise RuntimeError(f"callback answered {response.status_code}")

    def _requester_of(self, message: OutboxMessage) -> tuple[str, list[str]]:
        """The secret and registered prefixes of the requester whose request the callback
        reports, read at each attempt (a rotation or a withdrawn prefix applies to the retries
        of earlier callbacks too)."""
        with unit_of_work(self.engine) as session:
            request = session.get(Request, message.payload["id"])
            requester = session.get(Requester, request.requester_id) if request else None
            if requester is None:
                raise LookupError(f"no requester for the request of outbox message {message.id}")
            secret = ensure_webhook_secret(session, requester, actor="outbox")
            return secret, list(requester.callback_prefixes)

    def _callback_attempts(self, message: OutboxMessage) -> int | None:
        """How many times the callback's territory lets a callback be tried (None: no limit)."""
        if self.policies is None:
            return None
        territory = message.payload.get("territory")
        rules = self.policies.for_territory(territory if isinstance(territory, str) else "")
        return rules.notifications.callback_attempts

    def _claim(self, message_id: int) -> OutboxMessage | None:
        """Take the lease on a due message and read it, in one guarded statement."""
        now = utcnow()
        with unit_of_work(self.engine) as session:
            return session.scalars(
                update(OutboxMessage)
                .where(
                    col(OutboxMessage.id) == message_id,
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                    col(OutboxMessage.next_attempt_at) <= now,
                )
                .values(next_attempt_at=now + LEASE)
                .returning(OutboxMessage)
            ).one_or_none()

    def deliver_one(self, message_id: int) -> bool:
        """Try one message; True when it was delivered now."""
        message = self._claim(message_id)
        if message is None:
            return False
        sent = self._send(message)
        with unit_of_work(self.engine) as session:
            sent = self._record(session, sent)
        self._log(sent)
        return sent.error is None

    def _send(self, message: OutboxMessage) -> Sent:
        """Try a claimed message once, outside any transaction."""
        error: str | None = None
        refused = False
        attempts: Sequence[Attempt] = ()
        try:
            attempts = self._senders[message.kind](message) or ()
        except destinations.Refused as exc:  # trying again cannot help
            error, refused = f"refused: {exc}"[:2000], True
        except Exception as exc:  # any other failure means: try again later
            error = f"{type(exc).__name__}: {exc}"[:2000]
        if error is None and attempts and not any(attempt.ok for attempt in attempts):
            error = "; ".join(f"{a.channel}: {a.error or 'failed'}" for a in attempts)[:2000]
        return Sent(message, tuple(attempts), error, refused)

    def _record(self, session: Session, sent: Sent) -> Sent:
        """Write what became of a try in the caller's transaction: its attempts, and the
        message delivered, failed for good or due again later (returned with its new state)."""
        message, attempts, error, refused = sent.message, sent.attempts, sent.error, sent.refused
        assert message.id is not None
        tries = message.attempts + 1
        now = utcnow()
        for attempt in attempts:
            session.add(
                OutboxAttempt(
                    message_id=message.id,
                    channel=attempt.channel[:200],
                    at=now,
                    ok=attempt.ok,
                    error=attempt.error[:300] if attempt.error else None,
                )
            )
        wait: float | None = None if refused else backoff_s(tries)
        if message.kind == OutboxKind.CALLBACK:
            most = self._callback_attempts(message)
            if most is not None and tries >= most:
                wait = None
        elif message.kind == OutboxKind.INVITATION and self.follow_up is not None:
            wait = self.follow_up.settle(
                session, message, tries=tries, attempts=attempts, delivered=error is None
            )
        values: dict[str, Any] = {"attempts": tries}
        if error is None:
            values |= {
                "status": OutboxStatus.DELIVERED,
                "delivered_at": now,
                "last_error": None,
            }
        elif wait is None:
            values |= {"status": OutboxStatus.FAILED, "last_error": error}
            if message.kind == OutboxKind.CALLBACK:
                # The court was never told: the bar's report counts these.
                request_id = str(message.payload.get("id", ""))
                audit.record(
                    session,
                    actor=CALLBACK_ACTOR,
                    action="callback.failed",
                    entity_type="request",
                    entity_id=request_id,
                    request_id=request_id,
                    payload={"attempts": tries, "refused": refused, "error": error[:300]},
                )
        else:
            values |= {"next_attempt_at": now + timedelta(seconds=wait), "last_error": error}
        session.execute(
            update(OutboxMessage).where(col(OutboxMessage.id) == message.id).values(**values)
        )
        return Sent(message, attempts, error, refused, values)

    @staticmethod
    def _log(sent: Sent) -> None:
        message_id, kind = sent.message.id, sent.message.kind
        if sent.error is None:
            log.info("outbox.delivered", message_id=message_id, kind=kind)
        elif sent.values.get("status") == OutboxStatus.FAILED:
            log.warning(
                "outbox.failed", message_id=message_id, kind=kind, attempts=sent.values["attempts"]
            )
        else:
            log.warning(
                "outbox.retry", message_id=message_id, kind=kind, attempts=sent.values["attempts"]
            )

    def close(self) -> None:
        """End the delivery threads: what is being sent finishes, what waits for a thread stays
        pending in the outbox (the next process sends it); the HTTP client closes."""
        self._closing = True  # a finishing thread claims nothing more
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._in_flight_lock:
            self._in_flight.clear()
        self.http.close()

    def _due(self, limit: int) -> list[int]:
        with unit_of_work(self.engine) as session:
            due = session.exec(
                select(OutboxMessage.id)
                .where(
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                    col(OutboxMessage.next_attempt_at) <= utcnow(),
                )
                .order_by(col(OutboxMessage.id))
                .limit(limit)
            ).all()
        return [message_id for message_id in due if message_id is not None]

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="courier")
        return self._pool

    def deliver_due(self, limit: int = 100) -> int:
        """Deliver what is due now, `parallel` messages at a time, and wait for them; returns
        how many were delivered."""
        ids = self._due(limit)
        if self.parallel == 1 or len(ids) < 2:
            return sum(1 for message_id in ids if self.deliver_one(message_id))
        return sum(self._threads().map(self.deliver_one, ids))

    def pump(self, limit: int = 500) -> int:
        """Claim what is due, as many messages as there are free delivery threads (at most
        `limit`), in one guarded statement, hand them to the threads and return at once (how
        many were handed over): a message committed while others are being sent starts as
        soon as a thread is free, not after the others' batch. A thread that finishes claims
        again while messages may be left waiting, so at most `parallel` are in flight (leased,
        or sent and not yet recorded) at a time, and a message is handed over once. What the
        threads sent is recorded in one transaction for as many as have finished meanwhile
        (`_record_finished`)."""
        if self._closing:
            return 0
        with self._in_flight_lock:
            room = min(limit, self.parallel - len(self._in_flight))
            if room <= 0:
                self._more = True
                return 0
        claimed = sorted(self._claim_due(room), key=lambda m: m.id or 0)
        threads = self._threads()
        with self._in_flight_lock:
            self._in_flight.update(m.id for m in claimed if m.id is not None)
            if len(claimed) == room:
                self._more = True  # more may be due than there was room for
        for message in claimed:
            threads.submit(self._deliver_handed, message)
        return len(claimed)

    def _claim_due(self, limit: int) -> list[OutboxMessage]:
        """Take the lease on up to `limit` due messages, oldest first, and read them, in one
        guarded statement (a message another process leased meanwhile is not taken)."""
        now = utcnow()
        due = (
            select(OutboxMessage.id)
            .where(
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                col(OutboxMessage.next_attempt_at) <= now,
            )
            .order_by(col(OutboxMessage.id))
            .limit(limit)
        )
        if self.engine.dialect.name == "postgresql":
            # Rows other processes are claiming are passed over, not waited for.
            due = due.with_for_update(skip_locked=True)
        with unit_of_work(self.engine) as session:
            # The ids first, then the guarded update: PostgreSQL may run a LIMIT subquery
            # inside an UPDATE more than once, and take more rows than the limit.
            ids = list(session.exec(due).all())
            if not ids:
                return []
            return list(
                session.scalars(
                    update(OutboxMessage)
                    .where(
                        col(OutboxMessage.id).in_(ids),
                        col(OutboxMessage.status) == OutboxStatus.PENDING,
                        col(OutboxMessage.next_attempt_at) <= now,
                    )
                    .values(next_attempt_at=now + LEASE)
                    .returning(OutboxMessage)
                    .execution_options(synchronize_session=False)
                ).all()
            )

    def _deliver_handed(self, message: OutboxMessage) -> None:
        queued = False
        try:
            sent = self._send(message)
            self._finished.put(sent)
            queued = True
            self._record_finished()
        except Exception:
            log.exception("outbox.delivery_failed", message_id=message.id)
        finally:
            if not queued:
                self._release([message.id])

    def _release(self, ids: list[int | None]) -> None:
        """Free the messages' places in flight, and claim again if more may be waiting."""
        with self._in_flight_lock:
            self._in_flight.difference_update(ids)
            again, self._more = self._more, False
        if again:
            try:
                self.pump()
            except Exception:
                log.exception("outbox.failed")

    def _record_finished(self) -> None:
        """Record every finished try in one transaction: one thread records at a time, and
        takes along what the others finished while it waited for the database.

        A sent message keeps its place in flight until its try is recorded, so that sent but
        unrecorded messages (those a killed process sends again) never number more than the
        threads: a thread that hands its try to the recording one takes no new message."""
        while True:
            if not self._recording.acquire(blocking=False):
                return  # the thread recording now takes ours along (it looks again after)
            batch: list[Sent] = []
            try:
                while True:
                    try:
                        batch.append(self._finished.get_nowait())
                    except queue.Empty:
                        break
                if batch:
                    self._record_batch(batch)
            finally:
                self._recording.release()
                if batch:
                    self._release([sent.message.id for sent in batch])
            if self._finished.empty():
                return

    def _record_batch(self, batch: list[Sent]) -> None:
        try:
            with unit_of_work(self.engine) as session:
                recorded = [self._record(session, sent) for sent in batch]
        except Exception:
            # One message's record failed: record the others each on its own.
            log.exception("outbox.record_failed", messages=len(batch))
            recorded = []
            for sent in batch:
                try:
                    with unit_of_work(self.engine) as session:
                        recorded.append(self._record(session, sent))
                except Exception:
                    log.exception("outbox.record_failed", message_id=sent.message.id)
        for sent in recorded:
            self._log(sent)


class OutboxBell:
    """Listens on PostgreSQL for commits that filled the outbox (`enqueue`) and calls `ring`
    for each, on a thread of its own; polling stays the safety net (a lost connection is
    re-opened after `retry_s`, and whatever was committed meanwhile is found by the poll)."""

    def __init__(self, engine: Engine, ring: Callable[[], None], retry_s: float = 2.0) -> None:
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.ring = ring
        self.retry_s = retry_s
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._listen, name="outbox-bell", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {BELL}")
                    self.listening.set()
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.ring()
            except psycopg.Error as exc:
                log.warning("outbox.bell_lost", error=type(exc).__name__)
            self.listening.clear()
            self._stopping.wait(self.retry_s)
