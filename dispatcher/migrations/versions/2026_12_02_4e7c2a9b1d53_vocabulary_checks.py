"""Columns of the domain's words hold only those words: CHECK constraints from the vocabulary.

The allowed words are written out here, as they were when this revision was made (a migration
is history: a later change of the vocabulary gets a revision of its own).

Revision ID: 4e7c2a9b1d53
Revises: 9d3f6a1c8e20
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "4e7c2a9b1d53"
down_revision: str | None = "9d3f6a1c8e20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS: dict[str, dict[str, tuple[str, ...]]] = {
    "firm": {"status": ("active", "suspended")},
    "lawyer": {"status": ("active", "on_leave", "suspended")},
    "requester": {"role": ("court", "investigator")},
    "api_token": {"role": ("admin", "bar", "court", "investigator", "lawyer")},
    "request": {
        "kind": ("court_order", "investigation"),
        "urgency": ("detention", "standard"),
        "category": ("especially_grave", "grave", "less_grave", "minor"),
        "status": (
            "assigned",
            "awaiting_choice",
            "cancelled",
            "inviting",
            "private_counsel",
            "unfilled",
        ),
    },
    "choice_session": {"language": ("az", "en", "ru")},
    "choice": {"kind": ("delegate", "lawyer", "own_counsel"), "language": ("az", "en", "ru")},
    "invitation": {"status": ("accepted", "declined", "expired", "pending", "withdrawn")},
    "decision": {"kind": ("choice", "list", "rotation")},
    "outbox": {"kind": ("callback", "invitation"), "status": ("delivered", "pending")},
}


def upgrade() -> None:
    # Batch mode: SQLite cannot add a constraint to a table, so the table is copied anew
    # (with its indexes); PostgreSQL gets a plain ALTER TABLE.
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column, words in columns.items():
                allowed = ", ".join(f"'{word}'" for word in sorted(words))
                batch.create_check_constraint(column, f"{column} IN ({allowed})")


def downgrade() -> None:
    for table, columns in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_constraint(f"ck_{table}_{column}", type_="check")
