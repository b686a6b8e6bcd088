"""The statements a decision runs, built once from the tables.

A decision makes about fifteen statements; building and compiling each anew cost more than
running it, so they are built here, once, from the tables rather than the ORM's classes, and
only their values change from one decision to the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import String, TextClause, bindparam, literal_column, text, union_all, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Session, func

import dispatcher.models  # noqa: F401  (the tables below are the models' own)
from dispatcher.db import metadata
from policies.vocabulary import InvitationStatus

ROTATION_STATE = metadata.tables["rotation_state"]
LAWYER_ROTATION_STATE = metadata.tables["lawyer_rotation_state"]
LAWYER_EARNING = metadata.tables["lawyer_earning"]
LAWYER_PAUSE = metadata.tables["lawyer_pause"]
APPOINTMENT = metadata.tables["appointment"]
INVITATION = metadata.tables["invitation"]
LAWYER = metadata.tables["lawyer"]
FIRM_TERRITORY = metadata.tables["firm_territory"]
TERRITORY = metadata.tables["territory"]
REQUEST = metadata.tables["request"]
CONFLICT = metadata.tables["conflict"]
DECISION_SHARE = metadata.tables["decision_share"]
DECISION = metadata.tables["decision"]
# Statuses named as literals, not parameters: the partial indexes of open work
# (`dispatcher/models.py`) serve only queries that name their condition outright.
PENDING = literal_column(f"'{InvitationStatus.PENDING.value}'", String)
EXPIRED_STATUS = literal_column(f"'{InvitationStatus.EXPIRED.value}'", String)

# A lawyer's open work (open appointments and pending invitations), counted afresh in the
# lawyer's own partial indexes, which hold it alone: the exact figure the locked check of the
# chosen lawyer reads (`LOCK_LAWYER_LOAD`).
_LOAD = (
    sa_select(func.count())
    .select_from(APPOINTMENT)
    .where(APPOINTMENT.c.lawyer_id == LAWYER.c.id, APPOINTMENT.c.closed_at.is_(None))
    .scalar_subquery()
    + sa_select(func.count())
    .select_from(INVITATION)
    .where(INVITATION.c.lawyer_id == LAWYER.c.id, INVITATION.c.status == PENDING)
    .scalar_subquery()
)
# The lawyers of the firms serving a territory who are at their cap, with their loads: the
# cap is the only eligibility rule the load enters (`policies.eligibility.request_exclusion`),
# so the others' loads are not read here (the turn firm's come with its workloads). The load
# is the lawyer's `open_load`, which the database's triggers keep (`dispatcher/models.py`),
# and the condition is the one of the partial index `ix_lawyer_busy`, word for word: only the
# few lawyers at their cap are in it, so the cost follows them, not the territory's lawyers
# nor the history. (Counting each lawyer's open work in the work's partial indexes cost
# 0.6-0.75 ms in the capital's 925 lawyers.)
AT_CAP = (
    sa_select(LAWYER.c.id, LAWYER.c.open_load.label("load"))
    .join(FIRM_TERRITORY, FIRM_TERRITORY.c.firm_id == LAWYER.c.firm_id)
    .where(
        FIRM_TERRITORY.c.territory_id == bindparam("territory"),
        LAWYER.c.open_load >= LAWYER.c.max_open,
    )
)
# Invitations these lawyers let expire since a time: through the lawyer's own index, so the
# cost follows the few lawyers asked about, not the nation's expiries (SQLite takes that index
# once it has statistics: `db.refresh_statistics`).
EXPIRED = (
    sa_select(INVITATION.c.lawyer_id, func.count())
    .where(
        INVITATION.c.lawyer_id.in_(bindparam("lawyers", expanding=True)),
        INVITATION.c.status == EXPIRED_STATUS,
        INVITATION.c.deadline >= bindparam("since"),
    )
    .group_by(INVITATION.c.lawyer_id)
)
# Lawyers paused at a moment (`dispatcher/allocation/pause.py`): few rows, found by their end.
PAUSED = sa_select(LAWYER_PAUSE.c.lawyer_id).where(
    LAWYER_PAUSE.c.ends_at > bindparam("now"), LAWYER_PAUSE.c.starts_at <= bindparam("now")
)
INVITED = sa_select(INVITATION.c.lawyer_id).where(INVITATION.c.request_id == bindparam("request"))
REGISTERED_CONFLICTS = (
    sa_select(LAWYER.c.firm_id, LAWYER.c.licence, CONFLICT.c.role)
    .join(CONFLICT, CONFLICT.c.lawyer_id == LAWYER.c.id)
    .where(CONFLICT.c.case_number == bindparam("case"))
)
SAME_CASE = sa_select(REQUEST.c.id).where(
    REQUEST.c.case_number == bindparam("case"),
    REQUEST.c.id != bindparam("request"),
    func.lower(REQUEST.c.person_name) != bindparam("person"),
)
OTHER_DEFENCE = sa_select(INVITATION.c.firm_id, INVITATION.c.request_id, INVITATION.c.status).where(
    INVITATION.c.request_id.in_(bindparam("requests", expanding=True))
)
STANDINGS = sa_select(
    ROTATION_STATE.c.firm_id, ROTATION_STATE.c.entitlement, ROTATION_STATE.c.offers
).where(ROTATION_STATE.c.territory_id == bindparam("territory"))
CHARGE = (
    update(ROTATION_STATE)
    .where(
        ROTATION_STATE.c.territory_id == bindparam("territory"),
        ROTATION_STATE.c.firm_id == bindparam("firm"),
    )
    .values(entitlement=bindparam("new_entitlement"), offers=bindparam("new_offers"))
)
NEW_SHARES = DECISION_SHARE.insert()
# Lawyers' standings in a territory's rotation: read for the turn firm's lawyers, and charged
# by increments (every eligible lawyer earns, a lawyer the rotation has not met yet starts at
# nothing), so a decision writes without reading the standings of every eligible lawyer.
LAWYER_STANDINGS = sa_select(
    LAWYER_ROTATION_STATE.c.lawyer_id,
    LAWYER_ROTATION_STATE.c.entitlement,
    LAWYER_ROTATION_STATE.c.offers,
).where(
    LAWYER_ROTATION_STATE.c.territory_id == bindparam("territory"),
    LAWYER_ROTATION_STATE.c.lawyer_id.in_(bindparam("lawyers", expanding=True)),
)
# A charged decision's earnings, one row a firm, added to its lawyers' standings when they
# are next read (`allocation.earnings`); the chosen lawyer's offer is counted at once. The
# same text on SQLite and PostgreSQL (both take ON CONFLICT ... DO UPDATE).
NEW_EARNINGS = text(
    "INSERT INTO lawyer_earning (territory_id, firm_id, earned, lawyers) "
    "VALUES (:territory_id, :firm_id, :earned, :lawyers)"
)
LAWYER_OFFER = text(
    "INSERT INTO lawyer_rotation_state (territory_id, lawyer_id, entitlement, offers) "
    "VALUES (:territory, :lawyer, 0.0, 1) "
    "ON CONFLICT (territory_id, lawyer_id) DO UPDATE SET "
    "offers = lawyer_rotation_state.offers + 1"
)
LAWYER_ENTITLEMENT = text(
    "INSERT INTO lawyer_rotation_state (territory_id, lawyer_id, entitlement, offers) "
    "VALUES (:territory, :lawyer, :entitlement, 0) "
    "ON CONFLICT (territory_id, lawyer_id) DO UPDATE SET entitlement = excluded.entitlement"
)
# The earnings not yet added of the firms these lawyers belong to, in the order written.
PENDING_EARNINGS = (
    sa_select(LAWYER_EARNING.c.id, LAWYER_EARNING.c.earned, LAWYER_EARNING.c.lawyers)
    .where(
        LAWYER_EARNING.c.territory_id == bindparam("territory"),
        LAWYER_EARNING.c.firm_id.in_(
            sa_select(LAWYER.c.firm_id)
            .where(LAWYER.c.id.in_(bindparam("lawyers", expanding=True)))
            .distinct()
        ),
    )
    .order_by(LAWYER_EARNING.c.id)
)
# Every territory's earnings not yet added of these firms (a lawyer leaving one of them).
FIRMS_EARNINGS = (
    sa_select(
        LAWYER_EARNING.c.id,
        LAWYER_EARNING.c.territory_id,
        LAWYER_EARNING.c.earned,
        LAWYER_EARNING.c.lawyers,
    )
    .where(LAWYER_EARNING.c.firm_id.in_(bindparam("firms", expanding=True)))
    .order_by(LAWYER_EARNING.c.id)
)
EARNINGS_ADDED = LAWYER_EARNING.delete().where(
    LAWYER_EARNING.c.id.in_(bindparam("ids", expanding=True))
)
NEW_DECISION = DECISION.insert().returning(DECISION.c.id)
WORKLOAD = union_all(
    sa_select(APPOINTMENT.c.lawyer_id, REQUEST.c.category, func.count())
    .join(REQUEST, REQUEST.c.id == APPOINTMENT.c.request_id)
    .where(
        APPOINTMENT.c.closed_at.is_(None),
        APPOINTMENT.c.lawyer_id.in_(bindparam("lawyers", expanding=True)),
    )
    .group_by(APPOINTMENT.c.lawyer_id, REQUEST.c.category),
    sa_select(INVITATION.c.lawyer_id, REQUEST.c.category, func.count())
    .join(REQUEST, REQUEST.c.id == INVITATION.c.request_id)
    .where(
        INVITATION.c.status == PENDING,
        INVITATION.c.lawyer_id.in_(bindparam("lawyers", expanding=True)),
    )
    .group_by(INVITATION.c.lawyer_id, REQUEST.c.category),
)
# Lawyers' last offers and their own standings in a territory's rotation (entitlement and
# offers None: none yet), in one statement.
LAWYERS_READ = (
    sa_select(
        LAWYER.c.id,
        LAWYER.c.last_offer_at,
        LAWYER_ROTATION_STATE.c.entitlement,
        LAWYER_ROTATION_STATE.c.offers,
    )
    .select_from(LAWYER)
    .outerjoin(
        LAWYER_ROTATION_STATE,
        (LAWYER_ROTATION_STATE.c.lawyer_id == LAWYER.c.id)
        & (LAWYER_ROTATION_STATE.c.territory_id == bindparam("territory")),
    )
    .where(LAWYER.c.id.in_(bindparam("lawyers", expanding=True)))
)
OPEN_LOAD = sa_select(
    sa_select(func.count())
    .select_from(APPOINTMENT)
    .where(APPOINTMENT.c.lawyer_id == bindparam("lawyer"), APPOINTMENT.c.closed_at.is_(None))
    .scalar_subquery()
    + sa_select(func.count())
    .select_from(INVITATION)
    .where(INVITATION.c.lawyer_id == bindparam("lawyer"), INVITATION.c.status == PENDING)
    .scalar_subquery()
)
# The chosen lawyer locked (a decision in another territory may share their cap), with what
# the cap is checked against, in one statement: no ORM object is loaded for it.
LOCK_LAWYER_LOAD = (
    sa_select(LAWYER.c.status, LAWYER.c.max_open, _LOAD)
    .where(LAWYER.c.id == bindparam("lawyer"))
    .with_for_update(key_share=True, of=LAWYER)
)
LAST_OFFERED = (
    update(LAWYER)
    .where(LAWYER.c.id == bindparam("lawyer"))
    .values(last_offer_at=bindparam("at", type_=LAWYER.c.last_offer_at.type))
)
TERRITORIES = sa_select(TERRITORY.c.id, TERRITORY.c.code, TERRITORY.c.fallback)
LOCK_TERRITORIES = (
    sa_select(TERRITORY.c.id)
    .where(TERRITORY.c.id.in_(bindparam("territories", expanding=True)))
    .order_by(TERRITORY.c.id)
    .with_for_update(key_share=True)
)

# Statements compiled once per database kind, for `executemany`: (SQL, parameter order).
_SQLITE_NAMED = sqlite.dialect(paramstyle="named")
_DRIVER_SQL: dict[tuple[int, str], tuple[str, tuple[str, ...] | None]] = {}


def executemany(
    session: Session, statement: UpdateBase | TextClause, rows: Sequence[Mapping[str, object]]
) -> None:
    """Run `statement` for every row through the driver's executemany.

    The statement is compiled once per database kind and the rows go to the driver as they
    are: plain numbers, which need none of the per-row parameter processing SQLAlchemy would
    give them (a third of a millisecond for the seventy firms of a capital district). SQLite's
    driver takes named parameters too, so the statement is compiled with them there and the
    rows go as the mappings they are, without a tuple made for each (eight hundred lawyers'
    standings in a capital district).
    """
    connection = session.connection()
    dialect = connection.dialect
    key = (id(statement), dialect.name)
    found = _DRIVER_SQL.get(key)
    if found is None:
        compiled = statement.compile(dialect=_SQLITE_NAMED if dialect.name == "sqlite" else dialect)
        order = tuple(compiled.positiontup or ()) if compiled.positional else None
        found = _DRIVER_SQL[key] = (compiled.string, order)
    sql, order = found
    if order is None:
        connection.exec_driver_sql(sql, rows)
    else:
        connection.exec_driver_sql(sql, [tuple(row[k] for k in order) for row in rows])
