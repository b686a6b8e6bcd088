"""Tables. One obvious place for each fact; JSON columns hold lists the rules read whole."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    CheckConstraint,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Field, SQLModel
from typing_extensions import TypedDict

from dispatcher import registry_version
from dispatcher.db import UTCDateTime, utcnow
from policies.vocabulary import (
    REQUESTER_ROLES,
    AvailabilityKind,
    Category,
    ChoiceKind,
    DecisionKind,
    DeliveryStatus,
    FirmStatus,
    InvitationStatus,
    Language,
    LawyerStatus,
    OutboxKind,
    OutboxStatus,
    PlaceKind,
    Refusal,
    RequestKind,
    RequestStatus,
    Role,
    RotaOutcome,
    RotaStatus,
    SwapProblem,
    SwapStatus,
    Urgency,
)


def new_id() -> str:
    """A new row's id: a UUID of version 7 (RFC 9562) as 32 hex digits, the shape ids always had.

    The first 48 bits are the Unix time in milliseconds and 74 of the other 80 are random
    (`secrets`): ids made later sort after earlier ones, so a new request, invitation or
    appointment lands at the right edge of each index keyed by it, on pages already in the
    cache, instead of on a random page of an index of millions of rows as a UUID4 does. The
    ids are never capabilities (every route that takes one checks a token first) and stay
    unguessable: 74 random bits within a millisecond.
    """
    millis = time.time_ns() // 1_000_000
    rand = secrets.randbits(74)
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76  # version 7
        | (rand >> 62) << 64  # 12 random bits
        | 0b10 << 62  # the RFC's variant
        | (rand & ((1 << 62) - 1))  # 62 random bits
    )
    return f"{value:032x}"


def _when(nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default=None,
        sa_type=UTCDateTime,
        nullable=nullable,
        index=index,
    )


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


def one_of(column: str, words: Iterable[str]) -> CheckConstraint:
    """The column holds only the vocabulary's words (`ck_<table>_<column>` by the convention)."""
    allowed = ", ".join(f"'{word}'" for word in sorted(words))
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class DutyEntry(TypedDict):
    """A lawyer's weekly duty window as the registry stores it (times "HH:MM", local)."""

    weekday: int
    start: str
    end: str


class TabletOption(TypedDict):
    """A line of a tablet list as it is shown, and kept with the session and the choice."""

    lawyer: str
    name: str
    firm: str
    languages: list[str]
    position: int


# Partial indexes name the status they hold as a literal: only such queries can use them.
_PENDING = Column("status", String) == InvitationStatus.PENDING.value
_EXPIRED = Column("status", String) == InvitationStatus.EXPIRED.value
_AT_CAP = Column("open_load", Integer) >= Column("max_open", Integer)


# --- registry ---------------------------------------------------------------------------


class Territory(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    name_az: str = Field(max_length=200)
    name_ru: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    fallback: list[str] = _json(list)


class Firm(SQLModel, table=True):
    __table_args__ = (one_of("status", FirmStatus),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    name: str = Field(max_length=300)
    status: str = Field(default=FirmStatus.ACTIVE, max_length=16)


class FirmTerritory(SQLModel, table=True):
    __tablename__ = "firm_territory"
    firm_id: int = Field(foreign_key="firm.id", primary_key=True, ondelete="CASCADE")
    territory_id: int = Field(foreign_key="territory.id", primary_key=True, index=True)


class Lawyer(SQLModel, table=True):
    __table_args__ = (
        one_of("status", LawyerStatus),
        # The lawyers at their cap, by firm: a decision reads a territory's through its firms
        # (`allocation.statements.AT_CAP` names this condition outright, as a partial index
        # needs), and few lawyers are at their cap at any time.
        Index(
            "ix_lawyer_busy",
            "firm_id",
            sqlite_where=_AT_CAP,
            postgresql_where=_AT_CAP,
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    licence: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=200)
    firm_id: int = Field(foreign_key="firm.id", index=True)
    languages: list[str] = _json(list)
    specialisations: list[str] = _json(list)
    max_open: int = 8
    status: str = Field(default=LawyerStatus.ACTIVE, max_length=16)
    duty: list[DutyEntry] = _json(list)
    last_offer_at: datetime | None = _when(nullable=True)
    # How to reach the lawyer: `notify` holds apprise URLs that replace the deployment's
    # e-mail and SMS defaults for this lawyer.
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=254)
    photo: str | None = Field(default=None, max_length=500)
    notify: list[str] = _json(list)
    # Open appointments plus pending invitations, kept by the database's own triggers on
    # `invitation` and `appointment` (`OPEN_LOAD_TRIGGERS` below), whatever writes them. Read
    # only by SQL statements (`allocation.statements.AT_CAP`), never through this class: a
    # loaded lawyer's value is stale as soon as the triggers move it, and the ORM never
    # writes it after the row's insert (0, no work yet): an update that would is refused
    # (`OpenLoadWritten`, below).
    open_load: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class OpenLoadWritten(RuntimeError):
    """The ORM was about to write `lawyer.open_load`, which only the database's triggers keep."""


def _open_load_kept_by_triggers(_mapper: Any, _connection: Connection, target: Lawyer) -> None:
    # A changed `open_load` on a lawyer being updated means a stale count on its way back into
    # the row (a merged detached lawyer, a loaded value assigned back): refuse the flush, whose
    # transaction then rolls back, rather than let the cap check read a wrong count.
    if sa_inspect(target).attrs.open_load.history.has_changes():
        raise OpenLoadWritten(
            "lawyer.open_load is kept by the database's triggers and never written by the ORM"
        )


event.listen(Lawyer, "before_update", _open_load_kept_by_triggers)


class LawyerTerritory(SQLModel, table=True):
    __tablename__ = "lawyer_territory"
    lawyer_id: int = Field(foreign_key="lawyer.id", primary_key=True, ondelete="CASCADE")
    territory_id: int = Field(foreign_key="territory.id", primary_key=True, index=True)


class Place(SQLModel, table=True):
    """Where a lawyer is called to: a police station, a detention facility, a court, a
    prosecutor's office, in one territory."""

    __table_args__ = (one_of("kind", PlaceKind),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    territory_id: int = Field(foreign_key="territory.id", index=True)
    kind: str = Field(max_length=24)
    name_az: str = Field(max_length=200)
    name_ru: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    address: str = Field(max_length=300)
    phone: str | None = Field(default=None, max_length=32)


class RegistryVersion(SQLModel, table=True):
    """One row: a new random version at every change of the tables above but conflicts.

    Processes keep each territory's registry facts between decisions and read this row to
    know they are still current (`dispatcher/registry_version.py`). A random version rather than
    a counter: a rolled-back change never leaves behind a version another change reuses.
    """

    __tablename__ = "registry_version"
    id: int = Field(default=1, primary_key=True)
    version: str = Field(max_length=32)


# The row exists from the start, whichever way the schema was made (see the migration too).
def _first_version(table: Table, connection: Connection, **_: Any) -> None:
    connection.execute(table.insert().values(id=1, version=registry_version.INITIAL))


event.listen(SQLModel.metadata.tables["registry_version"], "after_create", _first_version)
registry_version.watch()


class Conflict(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("lawyer_id", "case_number", "role"),)
    id: int | None = Field(default=None, primary_key=True)
    lawyer_id: int = Field(foreign_key="lawyer.id", index=True, ondelete="CASCADE")
    case_number: str = Field(max_length=64, index=True)
    role: str = Field(max_length=64)


# --- duty rotas ---------------------------------------------------------------------------


class LawyerAvailability(SQLModel, table=True):
    """A lawyer's own limit on duty that the next rota respects: leave from `starts_at` to
    `ends_at`, or no nights, or no weekends (then without dates)."""

    __tablename__ = "lawyer_availability"
    __table_args__ = (one_of("kind", AvailabilityKind),)
    id: int | None = Field(default=None, primary_key=True)
    lawyer_id: int = Field(foreign_key="lawyer.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    starts_at: datetime | None = _when(nullable=True)
    ends_at: datetime | None = _when(nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Rota(SQLModel, table=True):
    """A territory's duty rota over a period: a draft, or approved (then, during its period,
    only the lawyers on duty are eligible for detentions)."""

    __table_args__ = (
        one_of("status", RotaStatus),
        one_of("outcome", RotaOutcome),
        Index("ix_rota_territory_status", "territory_id", "status"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    territory_id: int = Field(foreign_key="territory.id")
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=RotaStatus.DRAFT, max_length=16)
    # What the planner made of it (optimal, feasible or infeasible) and in how long.
    outcome: str = Field(max_length=16)
    solve_s: float
    figures: dict[str, Any] = _json(dict)
    # Each problem's English with its key and values (`Problem.as_json`); plain English before.
    problems: list[str | dict[str, Any]] = _json(list)
    policy_version: str = Field(max_length=64)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=200)
    approved_at: datetime | None = _when(nullable=True)


class RotaAssignment(SQLModel, table=True):
    """One lawyer on duty from `starts_at` to `ends_at` in one rota."""

    __tablename__ = "rota_assignment"
    __table_args__ = (Index("ix_rota_assignment_lawyer_starts_at", "lawyer_id", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    rota_id: str = Field(foreign_key="rota.id", index=True, ondelete="CASCADE")
    lawyer_id: int = Field(foreign_key="lawyer.id")
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)


class DutySwap(SQLModel, table=True):
    """A lawyer's approved duty offered to a colleague; it moves only when the colleague
    accepts and the rota's rules still hold (else refused, with the rule that would break)."""

    __tablename__ = "duty_swap"
    __table_args__ = (
        one_of("status", SwapStatus),
        one_of("problem", SwapProblem),
        Index("ix_duty_swap_to_lawyer_status", "to_lawyer_id", "status"),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    assignment_id: int = Field(foreign_key="rota_assignment.id", index=True, ondelete="CASCADE")
    from_lawyer_id: int = Field(foreign_key="lawyer.id", index=True)
    to_lawyer_id: int = Field(foreign_key="lawyer.id")
    status: str = Field(default=SwapStatus.OFFERED, max_length=16)
    problem: str | None = Field(default=None, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_at: datetime | None = _when(nullable=True)


class CalendarFeed(SQLModel, table=True):
    """A lawyer's calendar subscription: a random token in the feed's link, stored hashed; a
    new link revokes the old one."""

    __tablename__ = "calendar_feed"
    id: int | None = Field(default=None, primary_key=True)
    lawyer_id: int = Field(foreign_key="lawyer.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = _when(nullable=True)


# --- clients ------------------------------------------------------------------------------


class Requester(SQLModel, table=True):
    """A court or investigating body; requests belong to it."""

    __table_args__ = (UniqueConstraint("role", "name"), one_of("role", REQUESTER_ROLES))
    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=16)
    name: str = Field(max_length=200)
    # The territory of its first token: its home (the investigator's form starts there).
    territory_id: int | None = Field(default=None, foreign_key="territory.id")
    # The Standard Webhooks secret ("whsec_...") its callbacks are signed with: made with the
    # requester, or on first use for a requester older than the column.
    webhook_secret: str | None = Field(default=None, max_length=64)
    # A request's callback_url must start with one of these; none registered: no callbacks.
    callback_prefixes: list[str] = _json(list)
    # The codes of the territories its requests may name (`token create --territory`, added
    # to at every token); `any_territory` lets it file anywhere (`--any-territory`).
    territories: list[str] = _json(list)
    any_territory: bool = False


class RequestRefusal(SQLModel, table=True):
    """A request refused before it was written: outside the requester's territories or beyond
    its hourly limit. Kept for the bar's report; the request itself left no trace."""

    __tablename__ = "request_refusal"
    __table_args__ = (one_of("reason", Refusal),)
    id: int | None = Field(default=None, primary_key=True)
    requester_id: int = Field(foreign_key="requester.id")
    # The code as the request named it (a territory the registry may not know).
    territory: str = Field(max_length=16)
    reason: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    __table_args__ = (one_of("role", Role),)
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    name: str = Field(max_length=200)
    requester_id: int | None = Field(default=None, foreign_key="requester.id")
    lawyer_id: int | None = Field(default=None, foreign_key="lawyer.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = _when(nullable=True)
    # None: never expires. A token past it is refused like a revoked one.
    expires_at: datetime | None = _when(nullable=True)
    # Updated at most once a minute (see tokens.resolve), so that reading stays cheap.
    last_used_at: datetime | None = _when(nullable=True)


class PageSession(SQLModel, table=True):
    """A signed-in browser: its cookie holds a random id (stored hashed), never the API token.

    It lives until `expires_at`, until `/logout` ends it, or until its token is revoked or
    expires, whichever comes first.
    """

    __tablename__ = "page_session"
    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(max_length=64, unique=True)
    token_id: int = Field(foreign_key="api_token.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = _when(nullable=True)


# --- workflow ------------------------------------------------------------------------------


class Request(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("requester_id", "external_ref"),
        Index("ix_request_case_number", "case_number"),
        # A requester's requests in a territory by time: the hourly limit counts them.
        Index(
            "ix_request_requester_territory_created", "requester_id", "territory_id", "created_at"
        ),
        one_of("kind", RequestKind),
        one_of("urgency", Urgency),
        one_of("category", Category),
        one_of("status", RequestStatus),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    requester_id: int = Field(foreign_key="requester.id", index=True)
    external_ref: str = Field(max_length=128)
    payload_hash: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    case_number: str = Field(max_length=64)
    territory_id: int = Field(foreign_key="territory.id", index=True)
    urgency: str = Field(max_length=16)
    category: str = Field(max_length=64)
    person_name: str = Field(max_length=200)
    person_language: str = Field(max_length=8)
    person_juvenile: bool = False
    callback_url: str | None = Field(default=None, max_length=2000)
    status: str = Field(max_length=20, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    assigned_at: datetime | None = _when(nullable=True)
    # Where the lawyer is to go and whom to call there.
    place_id: int | None = Field(default=None, foreign_key="place.id")
    contact_name: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=32)
    # When the retention period erased the person's name and the contact (dispatcher/retention).
    personal_data_erased_at: datetime | None = _when(nullable=True)


class ChoiceSession(SQLModel, table=True):
    __tablename__ = "choice_session"
    __table_args__ = (one_of("language", Language),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    language: str = Field(max_length=8)
    # The regional list exactly as it is shown.
    options: list[TabletOption] = _json(list)
    decision_id: int | None = Field(default=None, foreign_key="decision.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    spent_at: datetime | None = _when(nullable=True)


class Choice(SQLModel, table=True):
    """What the suspect chose, with the list as shown. Written once, never updated."""

    __table_args__ = (one_of("kind", ChoiceKind), one_of("language", Language))
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="request.id", index=True)
    session_id: str = Field(foreign_key="choice_session.id", unique=True)
    kind: str = Field(max_length=16)
    lawyer_id: int | None = Field(default=None, foreign_key="lawyer.id")
    position: int | None = None
    own_counsel: str | None = Field(default=None, max_length=200)
    options: list[TabletOption] = _json(list)
    language: str = Field(max_length=8)
    chosen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Invitation(SQLModel, table=True):
    __table_args__ = (
        # At most one pending invitation per request, enforced by the database itself.
        Index(
            "uq_invitation_pending_request",
            "request_id",
            unique=True,
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        Index("ix_invitation_status_deadline", "status", "deadline"),
        # A lawyer's pending invitations count towards the cap, and the ones the lawyer let
        # expire lately order the firm's queue. Partial indexes hold only those invitations,
        # so they are found without the history; queries name the status as a literal, as a
        # partial index needs.
        Index(
            "ix_invitation_lawyer_pending",
            "lawyer_id",
            sqlite_where=_PENDING,
            postgresql_where=_PENDING,
        ),
        Index(
            "ix_invitation_lawyer_expired",
            "lawyer_id",
            "deadline",
            sqlite_where=_EXPIRED,
            postgresql_where=_EXPIRED,
        ),
        one_of("status", InvitationStatus),
        one_of("delivery", DeliveryStatus),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True)
    lawyer_id: int = Field(foreign_key="lawyer.id", index=True)
    firm_id: int = Field(foreign_key="firm.id")
    # The bar's reports join each decision to its invitation.
    decision_id: int = Field(foreign_key="decision.id", index=True)
    status: str = Field(default=InvitationStatus.PENDING, max_length=16)
    deadline: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_at: datetime | None = _when(nullable=True)
    decline_reason: str | None = Field(default=None, max_length=1000)
    # The SHA-256 of the token in the lawyer's answer link (the token itself is only in the
    # outbox message that carries the link); None for invitations made before answer links.
    answer_token_hash: str | None = Field(default=None, max_length=64, unique=True)
    # Whether the notification reached the lawyer (the outbox's attempts say how).
    delivery: str = Field(default=DeliveryStatus.PENDING, max_length=16)


class Appointment(SQLModel, table=True):
    # Open appointments count towards the cap: a partial index holds them alone, so that a
    # lawyer's are found without the history.
    __table_args__ = (
        Index(
            "ix_appointment_lawyer_open",
            "lawyer_id",
            sqlite_where=Column("closed_at", UTCDateTime).is_(None),
            postgresql_where=Column("closed_at", UTCDateTime).is_(None),
        ),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", unique=True)
    invitation_id: str = Field(foreign_key="invitation.id", unique=True)
    lawyer_id: int = Field(foreign_key="lawyer.id", index=True)
    firm_id: int = Field(foreign_key="firm.id")
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = _when(nullable=True)
    # The minutes the lawyer said they need to get there, when they said.
    eta_minutes: int | None = None


# A lawyer's `open_load` kept by the database: a row of open work (a pending invitation, an
# open appointment) adds one to its lawyer's count when it is written, and takes it back when
# it stops being open, moves to another lawyer or goes. Every writer is covered, bulk ones and
# raw SQL included. The migration that brought the column makes the same triggers.
_OPEN_WORK = {
    "invitation": f"status = '{InvitationStatus.PENDING.value}'",
    "appointment": "closed_at IS NULL",
}


def _open(table: str, row: str) -> str:
    return f"{row}.{_OPEN_WORK[table]}"


def _moved(table: str) -> str:
    """Whether an update changes what the row counts towards (the WHEN of the update trigger)."""
    return (
        f"({_open(table, 'OLD')}) <> ({_open(table, 'NEW')}) "
        f"OR ({_open(table, 'NEW')} AND OLD.lawyer_id <> NEW.lawyer_id)"
    )


def _sqlite_triggers(table: str) -> list[str]:
    add = "UPDATE lawyer SET open_load = open_load + 1 WHERE id = NEW.lawyer_id"
    take = "UPDATE lawyer SET open_load = open_load - 1 WHERE id = OLD.lawyer_id"
    columns = "closed_at" if table == "appointment" else "status"
    return [
        f"CREATE TRIGGER tr_{table}_open_load_insert AFTER INSERT ON {table} "
        f"WHEN {_open(table, 'NEW')} BEGIN {add}; END",
        f"CREATE TRIGGER tr_{table}_open_load_update AFTER UPDATE OF {columns}, lawyer_id "
        f"ON {table} WHEN {_moved(table)} BEGIN "
        f"{take} AND {_open(table, 'OLD')}; {add} AND {_open(table, 'NEW')}; END",
        f"CREATE TRIGGER tr_{table}_open_load_delete AFTER DELETE ON {table} "
        f"WHEN {_open(table, 'OLD')} BEGIN {take}; END",
    ]


def _postgresql_triggers(table: str) -> list[str]:
    columns = "closed_at" if table == "appointment" else "status"
    function = (
        f"CREATE FUNCTION {table}_open_load() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  IF TG_OP <> 'INSERT' THEN\n"
        f"    IF {_open(table, 'OLD')} THEN\n"
        "      UPDATE lawyer SET open_load = open_load - 1 WHERE id = OLD.lawyer_id;\n"
        "    END IF;\n"
        "  END IF;\n"
        "  IF TG_OP <> 'DELETE' THEN\n"
        f"    IF {_open(table, 'NEW')} THEN\n"
        "      UPDATE lawyer SET open_load = open_load + 1 WHERE id = NEW.lawyer_id;\n"
        "    END IF;\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END\n"
        "$$"
    )
    run = f"FOR EACH ROW WHEN ({{}}) EXECUTE FUNCTION {table}_open_load()"
    return [
        function,
        f"CREATE TRIGGER tr_{table}_open_load_insert AFTER INSERT ON {table} "
        + run.format(_open(table, "NEW")),
        f"CREATE TRIGGER tr_{table}_open_load_update AFTER UPDATE OF {columns}, lawyer_id "
        f"ON {table} " + run.format(_moved(table)),
        f"CREATE TRIGGER tr_{table}_open_load_delete AFTER DELETE ON {table} "
        + run.format(_open(table, "OLD")),
    ]


OPEN_LOAD_TRIGGERS = {
    "sqlite": {table: _sqlite_triggers(table) for table in _OPEN_WORK},
    "postgresql": {table: _postgresql_triggers(table) for table in _OPEN_WORK},
}
for _dialect, _tables in OPEN_LOAD_TRIGGERS.items():
    for _table, _statements in _tables.items():
        for _statement in _statements:
            event.listen(
                SQLModel.metadata.tables[_table],
                "after_create",
                DDL(_statement).execute_if(dialect=_dialect),  # type: ignore[no-untyped-call]
            )


# --- rotation and decisions ----------------------------------------------------------------


class RotationState(SQLModel, table=True):
    """A firm's running entitlement and offer count in one territory's rotation."""

    __tablename__ = "rotation_state"
    territory_id: int = Field(foreign_key="territory.id", primary_key=True)
    firm_id: int = Field(foreign_key="firm.id", primary_key=True)
    entitlement: float = 0.0
    offers: int = 0


class LawyerRotationState(SQLModel, table=True):
    """A lawyer's running entitlement and offer count in one territory's rotation: at every
    charged decision each eligible firm's share is split equally among its eligible lawyers."""

    __tablename__ = "lawyer_rotation_state"
    territory_id: int = Field(foreign_key="territory.id", primary_key=True)
    lawyer_id: int = Field(foreign_key="lawyer.id", primary_key=True)
    entitlement: float = 0.0
    offers: int = 0


class LawyerEarning(SQLModel, table=True):
    """A firm's share of one charged decision not yet added to its lawyers' standings: each
    lawyer listed (the firm's eligible lawyers then, ids joined by commas) earns `earned`.

    A decision writes one row a firm instead of one a lawyer; the rows of a firm are added
    to its lawyers' `LawyerRotationState`, in the order written (`id`), and deleted, when
    their standings are next read (`allocation.earnings`)."""

    __tablename__ = "lawyer_earning"
    __table_args__ = (Index("ix_lawyer_earning_firm", "firm_id", "territory_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    territory_id: int = Field(foreign_key="territory.id")
    firm_id: int = Field(foreign_key="firm.id")
    earned: float
    lawyers: str = Field(sa_column=Column(Text, nullable=False))


class LawyerPause(SQLModel, table=True):
    """A lawyer who let `lapses` invitations expire within the policy's window gets no
    invitation from `starts_at` to `ends_at`."""

    __tablename__ = "lawyer_pause"
    id: int | None = Field(default=None, primary_key=True)
    lawyer_id: int = Field(foreign_key="lawyer.id", index=True, ondelete="CASCADE")
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime, index=True)
    lapses: int


class Decision(SQLModel, table=True):
    """One allocation decision with its full explanation."""

    __table_args__ = (one_of("kind", DecisionKind),)
    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="request.id", index=True)
    territory_id: int = Field(foreign_key="territory.id", index=True)
    kind: str = Field(max_length=16)
    firm_id: int | None = Field(default=None, foreign_key="firm.id")
    lawyer_id: int | None = Field(default=None, foreign_key="lawyer.id")
    charged: bool = False
    via_fallback: str | None = Field(default=None, max_length=16)
    policy_version: str = Field(max_length=64)
    explanation: dict[str, Any] = _json(dict)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DecisionShare(SQLModel, table=True):
    """Entitlement earned by each eligible firm at a charged decision (for the reports)."""

    __tablename__ = "decision_share"
    decision_id: int = Field(foreign_key="decision.id", primary_key=True)
    firm_id: int = Field(foreign_key="firm.id", primary_key=True, index=True)
    share: float
    charged: int = 0


# --- outbox and audit ----------------------------------------------------------------------


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        one_of("kind", OutboxKind),
        one_of("status", OutboxStatus),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    target: str = Field(max_length=2000)
    payload: dict[str, Any] = _json(dict)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = _when(nullable=True)


class OutboxAttempt(SQLModel, table=True):
    """One try of one channel for an outbox message: the channel is its scheme and host only
    (the full URL holds credentials and addresses), the error a short reason."""

    __tablename__ = "outbox_attempt"
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbox.id", index=True)
    channel: str = Field(max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ok: bool
    error: str | None = Field(default=None, max_length=300)


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_type=UTCDateTime)
    actor: str = Field(max_length=200)
    action: str = Field(max_length=64)
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    request_id: str | None = Field(default=None, max_length=32, index=True)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain's last link, so that a truncated tail is detected too."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    seq: int
    hash: str = Field(max_length=64)


class AuditKey(SQLModel, table=True):
    """The deployment's key of the chain's keyed hashes over personal data (see `audit`).

    One row, made once; retention never touches it.
    """

    __tablename__ = "audit_key"
    id: int = Field(default=1, primary_key=True)
    key: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
