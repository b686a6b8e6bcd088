"""Each lawyer's open work counted by the database: `lawyer.open_load` (open appointments
plus pending invitations), kept by triggers on `invitation` and `appointment`, and the partial
index `ix_lawyer_busy` of the lawyers at their cap, by firm, which a decision reads.

The triggers update the lawyer's row in the transaction that writes the work. That adds no
deadlock on PostgreSQL: every writing transaction (registry writes included) takes the audit
chain's head first (`audit.lock_head`), so writers are serialised before they touch any
lawyer row, and the decision's own lock of the chosen lawyer (FOR KEY SHARE) does not
conflict with a trigger's update, which changes no key.

Revision ID: d81f4b2a6c35
Revises: c7e3a1f5d902
Create Date: 2026-12-02 21:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d81f4b2a6c35"
down_revision: str | None = "c7e3a1f5d902"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What counts as open work, as it was when this revision was made.
OPEN_WORK = {"invitation": "status = 'pending'", "appointment": "closed_at IS NULL"}
COLUMNS = {"invitation": "status", "appointment": "closed_at"}
AT_CAP = "open_load >= max_open"


def _open(table: str, row: str) -> str:
    return f"{row}.{OPEN_WORK[table]}"


def _moved(table: str) -> str:
    return (
        f"({_open(table, 'OLD')}) <> ({_open(table, 'NEW')}) "
        f"OR ({_open(table, 'NEW')} AND OLD.lawyer_id <> NEW.lawyer_id)"
    )


def _sqlite_triggers(table: str) -> list[str]:
    add = "UPDATE lawyer SET open_load = open_load + 1 WHERE id = NEW.lawyer_id"
    take = "UPDATE lawyer SET open_load = open_load - 1 WHERE id = OLD.lawyer_id"
    return [
        f"CREATE TRIGGER tr_{table}_open_load_insert AFTER INSERT ON {table} "
        f"WHEN {_open(table, 'NEW')} BEGIN {add}; END",
        f"CREATE TRIGGER tr_{table}_open_load_update AFTER UPDATE OF {COLUMNS[table]}, lawyer_id "
        f"ON {table} WHEN {_moved(table)} BEGIN "
        f"{take} AND {_open(table, 'OLD')}; {add} AND {_open(table, 'NEW')}; END",
        f"CREATE TRIGGER tr_{table}_open_load_delete AFTER DELETE ON {table} "
        f"WHEN {_open(table, 'OLD')} BEGIN {take}; END",
    ]


def _postgresql_triggers(table: str) -> list[str]:
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
        f"CREATE TRIGGER tr_{table}_open_load_update AFTER UPDATE OF {COLUMNS[table]}, lawyer_id "
        f"ON {table} " + run.format(_moved(table)),
        f"CREATE TRIGGER tr_{table}_open_load_delete AFTER DELETE ON {table} "
        + run.format(_open(table, "OLD")),
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column(
        "lawyer", sa.Column("open_load", sa.Integer(), nullable=False, server_default="0")
    )
    for table in OPEN_WORK:
        statements = _sqlite_triggers(table) if dialect == "sqlite" else _postgresql_triggers(table)
        for statement in statements:
            op.execute(statement)
    # The work already there, counted once; the triggers keep it from now on (the schema is
    # migrated with the service stopped, and the column's lock holds other writers off).
    op.execute(
        "UPDATE lawyer SET open_load = "
        "(SELECT count(*) FROM appointment a WHERE a.lawyer_id = lawyer.id "
        "AND a.closed_at IS NULL) + "
        "(SELECT count(*) FROM invitation i WHERE i.lawyer_id = lawyer.id "
        "AND i.status = 'pending')"
    )
    op.create_index(
        "ix_lawyer_busy",
        "lawyer",
        ["firm_id"],
        sqlite_where=sa.text(AT_CAP),
        postgresql_where=sa.text(AT_CAP),
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in OPEN_WORK:
        for event in ("insert", "update", "delete"):
            if dialect == "sqlite":
                op.execute(f"DROP TRIGGER tr_{table}_open_load_{event}")
            else:
                op.execute(f"DROP TRIGGER tr_{table}_open_load_{event} ON {table}")
        if dialect != "sqlite":
            op.execute(f"DROP FUNCTION {table}_open_load()")
    op.drop_index("ix_lawyer_busy", table_name="lawyer")
    with op.batch_alter_table("lawyer") as batch:
        batch.drop_column("open_load")
