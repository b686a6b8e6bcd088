"""The registry's version: a new random value written by every change to the registry.

A process may keep what it read of the registry (each territory's firms and lawyers, their
languages, duty rosters and caps) between decisions, as long as the version it read them at
is still the database's: one primary-key read per decision instead of the whole territory.
Every change goes through a session, so the session's own events write the new version in
the same transaction as the change: an ORM flush that adds, removes or alters a registry row
(save for a lawyer's `last_offer_at`, which every decision writes and nobody keeps), and an
ORM bulk statement against a registry table. A rolled-back change takes its version with it,
and a random version is never reused, so nothing read inside that transaction is mistaken
for the registry of another.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.orm import ORMExecuteState, Session

# The tables whose rows a process may keep between decisions, and the columns of them that
# change at every decision and are therefore never kept (and do not change the version).
REGISTRY_TABLES = frozenset({"territory", "firm", "firm_territory", "lawyer", "lawyer_territory"})
VOLATILE = {"lawyer": frozenset({"last_offer_at"})}
INITIAL = "initial"

_READ = text("SELECT version FROM registry_version WHERE id = 1")
_WRITE = text("UPDATE registry_version SET version = :version WHERE id = 1")
_FIRST = text("INSERT INTO registry_version (id, version) VALUES (1, :version)")


def current(session: Session) -> str:
    """The registry's version as this transaction sees it (pending changes flushed first)."""
    found = session.execute(_READ).scalar()
    return str(found) if found is not None else INITIAL


def bump(session: Session) -> str:
    """Give the registry a new version inside the session's transaction."""
    version = uuid.uuid4().hex
    connection = session.connection()
    if connection.execute(_WRITE, {"version": version}).rowcount == 0:
        connection.execute(_FIRST, {"version": version})
    return version


def _table(obj: Any) -> str | None:
    return getattr(type(obj), "__tablename__", None)


def _changes_registry(session: Session) -> bool:
    for obj in (*session.new, *session.deleted):
        if _table(obj) in REGISTRY_TABLES:
            return True
    for obj in session.dirty:
        name = _table(obj)
        if name not in REGISTRY_TABLES:
            continue
        volatile = VOLATILE.get(name, frozenset())
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            if attr.key not in volatile and state.attrs[attr.key].history.has_changes():
                return True
    return False


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    if _changes_registry(session):
        bump(session)


def _do_orm_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in REGISTRY_TABLES:
        bump(state.session)


def watch() -> None:
    """Write a new version with every registry change made through any session (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "do_orm_execute", _do_orm_execute)
