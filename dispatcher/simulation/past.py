"""Past decisions written in bulk, so that benchmarks start from years of history.

History, not behaviour: the rows a long-running service would have left behind (requests,
rotation decisions with their shares, invitations, appointments, the rotation's standing) are
inserted directly with `insert()` of plain dicts in one transaction, for the allocator's
queries and indexes to meet the volume they will meet in service. Nothing here decides
anything; the decisions benchmarked afterwards are the real allocator's.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from dispatcher.db import refresh_statistics
from dispatcher.models import (
    Appointment,
    Decision,
    DecisionShare,
    Invitation,
    Lawyer,
    LawyerTerritory,
    Request,
    Requester,
    RotationState,
)
from policies.vocabulary import (
    Category,
    DecisionKind,
    DeliveryStatus,
    InvitationStatus,
    Language,
    LawyerStatus,
    RequestKind,
    RequestStatus,
    Urgency,
)

BATCH = 20_000
WRITE_CACHE_KIB = 512 * 1024
# How invitations of the past ended, and how many appointments are still open at the end.
ACCEPTED, DECLINED = 0.85, 0.08  # the rest expired
OPEN_PER_LAWYER = 2
CATEGORIES = tuple(Category)


@dataclass(frozen=True)
class PastFigures:
    decisions: int
    rows: int
    seconds: float


def _table(model: Any) -> Table:
    found: Table = model.__table__
    return found


def _writer(conn: Connection, model: Any, native: bool) -> Callable[[list[dict[str, Any]]], None]:
    """Insert many rows of `model`'s table at once.

    On SQLite the rows go to the driver's own executemany with named parameters (the values
    already in the form SQLAlchemy would store): the per-row work in Python is the larger part
    of the time otherwise. Elsewhere it is SQLAlchemy's `insert()` of the same dicts.
    """
    found = _table(model)
    names = [c.name for c in found.columns]
    sql = (
        f"INSERT INTO {found.name} ({', '.join(names)}) "
        f"VALUES ({', '.join(':' + n for n in names)})"
    )

    def write(rows: list[dict[str, Any]]) -> None:
        if native:
            conn.exec_driver_sql(sql, rows)
        else:
            conn.execute(insert(found), rows)

    return write


def write_past(
    engine: Engine, *, decisions: int, end: datetime, years: float = 10.0, seed: int = 1
) -> PastFigures:
    """Insert `decisions` past rotation decisions spread over `years` before `end`.

    Needs the registry and one requester per territory (any role) in the database. Every
    decision has its request, one invitation (accepted, declined or expired) and, when
    accepted, an appointment (closed, but for the latest few of each lawyer); the decision's
    shares and the rotation's running standing follow the charged firm.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    written = 0
    with engine.begin() as conn:
        lawyers_in = _lawyers_by_territory(conn)
        requester_of = {
            territory_id: requester_id
            for requester_id, territory_id in conn.execute(
                select(col(Requester.id), col(Requester.territory_id))
            ).all()
            if territory_id is not None
        }
        territories = sorted(t for t in lawyers_in if t in requester_of)
        if not territories or decisions <= 0:
            return PastFigures(0, 0, time.perf_counter() - started)
        weights = [len(lawyers_in[t]) ** 0.75 for t in territories]
        # Ids above any the service will have used: the history is older than the service's
        # own rows only in time, never in key.
        first_decision = 1 + (
            conn.execute(
                select(col(Decision.id)).order_by(col(Decision.id).desc()).limit(1)
            ).scalar()
            or 0
        )
        span_s = years * 365 * 86400.0
        step_s = span_s / decisions
        start = end - timedelta(seconds=span_s)
        standing: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
        last_open: dict[int, list[str]] = defaultdict(list)
        picks = rng.choices(territories, weights, k=decisions)
        # On SQLite the values are given as the text SQLAlchemy itself would store (a quarter
        # of the time otherwise goes to converting 9 times per decision); elsewhere as they are.
        native = conn.dialect.name == "sqlite"
        if native:
            # Index pages of millions of rows in memory while writing them; set back after.
            conn.exec_driver_sql(f"PRAGMA cache_size=-{WRITE_CACHE_KIB}")

        if native:
            start = start.astimezone(UTC).replace(tzinfo=None)

        def when(moment: datetime) -> Any:
            return moment.isoformat(" ", "microseconds") if native else moment

        explanation: Any = {"kind": DecisionKind.ROTATION, "past": True}
        if native:
            explanation = json.dumps(explanation)

        def rows() -> Iterator[tuple[str, dict[str, Any]]]:
            for i, territory_id in enumerate(picks):
                at = start + timedelta(seconds=i * step_s)
                lawyer_id, firm_id = rng.choice(lawyers_in[territory_id])
                other_firm = rng.choice(lawyers_in[territory_id])[1]
                request_id = f"{i:032x}"
                decision_id = first_decision + i
                invitation_id = f"{i:031x}i"
                roll = rng.random()
                status = (
                    InvitationStatus.ACCEPTED
                    if roll < ACCEPTED
                    else InvitationStatus.DECLINED
                    if roll < ACCEPTED + DECLINED
                    else InvitationStatus.EXPIRED
                )
                detention = rng.random() < 0.47
                deadline = at + timedelta(seconds=900 if detention else 14400)
                answered = at + timedelta(seconds=rng.uniform(30, 600))
                yield (
                    "request",
                    {
                        "id": request_id,
                        "requester_id": requester_of[territory_id],
                        "external_ref": f"PAST-{i}",
                        "payload_hash": "0" * 64,
                        "kind": RequestKind.COURT_ORDER,
                        "case_number": f"P({territory_id})-{i}",
                        "territory_id": territory_id,
                        "urgency": Urgency.DETENTION if detention else Urgency.STANDARD,
                        "category": CATEGORIES[i % len(CATEGORIES)],
                        "person_name": f"Past {i}",
                        "person_language": Language.AZ,
                        "person_juvenile": False,
                        "callback_url": None,
                        "status": RequestStatus.ASSIGNED
                        if status == InvitationStatus.ACCEPTED
                        else RequestStatus.UNFILLED,
                        "created_at": when(at),
                        "updated_at": when(answered),
                        "assigned_at": when(answered)
                        if status == InvitationStatus.ACCEPTED
                        else None,
                        "place_id": None,
                        "contact_name": None,
                        "contact_phone": None,
                        "personal_data_erased_at": None,
                    },
                )
                yield (
                    "decision",
                    {
                        "id": decision_id,
                        "request_id": request_id,
                        "territory_id": territory_id,
                        "kind": DecisionKind.ROTATION,
                        "firm_id": firm_id,
                        "lawyer_id": lawyer_id,
                        "charged": True,
                        "via_fallback": None,
                        "policy_version": "past",
                        "explanation": explanation,
                        "created_at": when(at),
                    },
                )
                # The charged firm's share and one other eligible firm's.
                share = rng.uniform(0.05, 0.5)
                yield (
                    "share",
                    {"decision_id": decision_id, "firm_id": firm_id, "share": share, "charged": 1},
                )
                if other_firm != firm_id:
                    yield (
                        "share",
                        {
                            "decision_id": decision_id,
                            "firm_id": other_firm,
                            "share": 1.0 - share,
                            "charged": 0,
                        },
                    )
                    standing[(territory_id, other_firm)][0] += 1.0 - share
                standing[(territory_id, firm_id)][0] += share
                standing[(territory_id, firm_id)][1] += 1
                yield (
                    "invitation",
                    {
                        "id": invitation_id,
                        "request_id": request_id,
                        "lawyer_id": lawyer_id,
                        "firm_id": firm_id,
                        "decision_id": decision_id,
                        "status": status,
                        "deadline": when(deadline),
                        "created_at": when(at),
                        "answered_at": None
                        if status == InvitationStatus.EXPIRED
                        else when(answered),
                        "decline_reason": "busy" if status == InvitationStatus.DECLINED else None,
                        # A past invitation was never sent: it has no answer link.
                        "answer_token_hash": None,
                        # The past's lawyers all heard of their invitations.
                        "delivery": DeliveryStatus.DELIVERED,
                    },
                )
                if status == InvitationStatus.ACCEPTED:
                    appointment_id = f"{i:031x}a"
                    recent = last_open[lawyer_id]
                    recent.append(appointment_id)
                    if len(recent) > OPEN_PER_LAWYER:
                        recent.pop(0)
                    yield (
                        "appointment",
                        {
                            "id": appointment_id,
                            "request_id": request_id,
                            "invitation_id": invitation_id,
                            "lawyer_id": lawyer_id,
                            "firm_id": firm_id,
                            "opened_at": when(answered),
                            "closed_at": when(answered + timedelta(days=14)),
                            "eta_minutes": None,
                        },
                    )

        # The secondary indexes are built once at the end rather than row by row.
        indexes = [
            index
            for model in (Request, Decision, DecisionShare, Invitation, Appointment)
            for index in _table(model).indexes
        ]
        for index in indexes:
            index.drop(conn, checkfirst=True)
        writers = {
            "request": _writer(conn, Request, native),
            "decision": _writer(conn, Decision, native),
            "share": _writer(conn, DecisionShare, native),
            "invitation": _writer(conn, Invitation, native),
            "appointment": _writer(conn, Appointment, native),
        }
        # Parents before children within each batch: the foreign keys are checked per row.
        order = ("request", "decision", "share", "invitation", "appointment")
        pending: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
        count = 0
        for name, row in rows():
            pending[name].append(row)
            count += 1
            if count >= BATCH:
                written += _flush(writers, order, pending)
                count = 0
        written += _flush(writers, order, pending)
        for index in indexes:
            index.create(conn, checkfirst=True)
        # The latest appointments of each lawyer are still open: the workload of today.
        still_open = [a for ids in last_open.values() for a in ids]
        for chunk in range(0, len(still_open), 500):
            conn.execute(
                update(_table(Appointment))
                .where(col(Appointment.id).in_(still_open[chunk : chunk + 500]))
                .values(closed_at=None)
            )
        conn.execute(
            insert(_table(RotationState)),
            [
                {"territory_id": t, "firm_id": f, "entitlement": e, "offers": int(o)}
                for (t, f), (e, o) in standing.items()
            ],
        )
        written += len(standing)
        if conn.dialect.name == "postgresql":
            # The decisions were given their ids: the sequence moves past them.
            conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('decision', 'id'), "
                "(SELECT max(id) FROM decision))"
            )
        if native:
            conn.exec_driver_sql("PRAGMA cache_size=-2000")
    if engine.dialect.name == "sqlite":
        # The history goes from the write-ahead log into the database file now, as it would
        # have long ago in service, rather than in the middle of the first decisions after it.
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()
    refresh_statistics(engine)  # as after any bulk load
    return PastFigures(decisions, written, time.perf_counter() - started)


def _flush(
    writers: dict[str, Callable[[list[dict[str, Any]]], None]],
    order: tuple[str, ...],
    pending: dict[str, list[dict[str, Any]]],
) -> int:
    written = 0
    for name in order:
        if pending[name]:
            writers[name](pending[name])
            written += len(pending[name])
            pending[name] = []
    return written


def _lawyers_by_territory(conn: Connection) -> dict[int, list[tuple[int, int]]]:
    """(lawyer id, firm id) of the active lawyers serving each territory."""
    found: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for territory_id, lawyer_id, firm_id in conn.execute(
        select(col(LawyerTerritory.territory_id), col(Lawyer.id), col(Lawyer.firm_id))
        .join(Lawyer, col(Lawyer.id) == LawyerTerritory.lawyer_id)
        .where(col(Lawyer.status) == LawyerStatus.ACTIVE)
        .order_by(col(LawyerTerritory.territory_id), col(Lawyer.id))
    ).all():
        if lawyer_id is not None:
            found[territory_id].append((lawyer_id, firm_id))
    return found
