"""The two ways to a schema end in the same schema: alembic's migrations and the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from dispatcher import migrations
from dispatcher.db import create_schema, make_engine, metadata
from tests.support import backends


def shape(engine: Engine) -> dict[str, Any]:
    """Tables, columns, keys, indexes and constraints with their names, as the database has them."""
    found = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(found.get_table_names()):
        if table == "alembic_version":
            continue
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)
            ],
            "pk": found.get_pk_constraint(table),
            "fks": sorted(
                (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in found.get_foreign_keys(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(c or "" for c in i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            # The words a column may hold: a vocabulary changed without a migration differs.
            "checks": sorted((c["name"], c["sqltext"]) for c in found.get_check_constraints(table)),
            # The triggers that keep `lawyer.open_load`, word for word, with their functions.
            "triggers": triggers(engine, table),
        }
    return out


def triggers(engine: Engine, table: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"
                ),
                {"t": table},
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT t.tgname, pg_get_triggerdef(t.oid) || pg_get_functiondef(t.tgfoid) "
                    "FROM pg_trigger t "
                    "WHERE NOT t.tgisinternal AND t.tgrelid = CAST(:t AS regclass)"
                ),
                {"t": table},
            )
        return sorted((str(name), str(sql)) for name, sql in rows)


def test_migrations_and_models_make_the_same_schema(tmp_path: Path) -> None:
    if backends.on_postgres():
        from_models_url = backends.empty_postgres_url("schema_from_models")
        migrated_url = backends.empty_postgres_url("schema_migrated")
    else:
        from_models_url = f"sqlite:///{tmp_path / 'models.db'}"
        migrated_url = f"sqlite:///{tmp_path / 'migrated.db'}"
    from_models = make_engine(from_models_url)
    if from_models.dialect.name == "sqlite":
        create_schema(from_models)
    else:
        metadata.create_all(from_models)
    migrations.upgrade(migrated_url)
    migrated = make_engine(migrated_url)
    try:
        with migrated.connect() as conn:
            assert migrations.current(conn) == migrations.head()
            drift = compare_metadata(MigrationContext.configure(conn), metadata)
        assert drift == [], f"the models differ from the migrations: {drift}"
        made, upgraded = shape(from_models), shape(migrated)
        assert set(made) == set(upgraded)
        assert len(made) >= 15
        # Both ways make the open-load triggers (on SQLite `create_all` makes them).
        for table in ("invitation", "appointment"):
            assert len(made[table]["triggers"]) == 3, table
        for table in made:
            assert made[table] == upgraded[table], table
        # Every constraint and index is named by the convention, never by the backend.
        for table, parts in upgraded.items():
            assert parts["pk"]["name"] == f"pk_{table}"
            assert all(name for name, *_ in parts["fks"] + parts["unique"] + parts["indexes"])
            assert all(name.startswith(f"ck_{table}_") for name, _ in parts["checks"])
    finally:
        from_models.dispose()
        migrated.dispose()


def test_a_service_refuses_a_database_that_was_not_migrated(tmp_path: Path) -> None:
    if not backends.on_postgres():
        # SQLite creates its own schema and stamps it: nothing to refuse.
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        create_schema(engine)
        with engine.connect() as conn:
            assert migrations.current(conn) == migrations.head()
        engine.dispose()
        return
    from dispatcher.db import SchemaNotReady

    engine = make_engine(backends.empty_postgres_url("schema_never_migrated"))
    try:
        create_schema(engine)
    except SchemaNotReady as exc:
        assert "dispatcher db upgrade" in str(exc)
    else:
        raise AssertionError("an unmigrated PostgreSQL database was accepted")
    finally:
        engine.dispose()


def test_an_embedded_database_from_an_older_version_is_brought_forward(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = migrations.scripts().get_base()
    assert first is not None and first != migrations.head()
    migrations.upgrade(url, first)
    engine = make_engine(url)
    try:
        create_schema(engine)
        with engine.connect() as conn:
            assert migrations.current(conn) == migrations.head()
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()


def test_a_column_of_the_vocabulary_refuses_other_words(tmp_path: Path) -> None:
    url = (
        backends.empty_postgres_url("schema_vocabulary")
        if backends.on_postgres()
        else f"sqlite:///{tmp_path / 'words.db'}"
    )
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO firm (code, name, status) VALUES ('F1', 'F', 'active')"))
        for status in ("closed", "Active", ""):
            with pytest.raises(IntegrityError), engine.begin() as conn:
                conn.execute(
                    text("INSERT INTO firm (code, name, status) VALUES ('F2', 'F', :s)"),
                    {"s": status},
                )
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM firm")).scalar_one() == 1
    finally:
        engine.dispose()
