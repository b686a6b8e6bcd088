"""Which database and Redis the suite runs on.

By default every test gets its own SQLite file. With `DISPATCHER_TEST_DATABASE_URL` set (as
`./scripts/test` does for its second pass, against a throwaway PostgreSQL server) every test
database is instead a fresh PostgreSQL database, copied from a template that alembic migrated
once per run; `DISPATCHER_TEST_REDIS_URL` adds Redis.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

SERVER_URL = os.environ.get("DISPATCHER_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("DISPATCHER_TEST_REDIS_URL")
TEMPLATE = f"dispatcher_template_{os.getpid()}"
_lock = threading.Lock()
_made: set[str] = set()
_template_ready = False


def on_postgres() -> bool:
    return SERVER_URL is not None


def _server() -> URL:
    assert SERVER_URL is not None
    return make_url(SERVER_URL)


def _admin_execute(statement: str) -> None:
    engine = create_engine(_server().set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _ensure_template() -> None:
    global _template_ready
    if _template_ready:
        return
    from dispatcher.migrations import upgrade

    _admin_execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
    _admin_execute(f'CREATE DATABASE "{TEMPLATE}"')
    upgrade(_server().set(database=TEMPLATE).render_as_string(hide_password=False))
    _template_ready = True


def fresh_postgres_url(name: str) -> str:
    """A new, migrated PostgreSQL database (empty tables) and its URL."""
    with _lock:
        _ensure_template()
        _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
        _made.add(name)
    return _server().set(database=name).render_as_string(hide_password=False)


def database_url(path: Path) -> str:
    """The test database standing for the SQLite file `path`: the same path gives the same one."""
    if SERVER_URL is None:
        return f"sqlite:///{path}"
    name = "t_" + hashlib.sha256(str(path).encode()).hexdigest()[:24]
    if name in _made:
        return _server().set(database=name).render_as_string(hide_password=False)
    return fresh_postgres_url(name)


def empty_postgres_url(name: str) -> str:
    """A new PostgreSQL database with no tables at all, and its URL."""
    with _lock:
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}"')
        _admin_execute(f'CREATE DATABASE "{name}"')
        _made.add(name)
    return _server().set(database=name).render_as_string(hide_password=False)


def required(variable: str, what: str) -> str:
    """A server URL the test needs; a clear failure (not a skip) when it is not there."""
    value = os.environ.get(variable)
    if not value:
        raise RuntimeError(
            f"{what} is needed: run ./scripts/test, or start one with "
            f"`./scripts/services start DIR` and `. DIR/env`"
        )
    return value
