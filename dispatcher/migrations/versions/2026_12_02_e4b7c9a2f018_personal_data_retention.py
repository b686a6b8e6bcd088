"""Personal data retention: when a request's personal data was erased, and the deployment's key
of the audit chain's keyed hashes (made here once, so that every process finds it).

Revision ID: e4b7c9a2f018
Revises: a8d4f2c61e97
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import dispatcher.db

revision: str = "e4b7c9a2f018"
down_revision: str | None = "a8d4f2c61e97"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("request") as batch:
        batch.add_column(
            sa.Column("personal_data_erased_at", dispatcher.db.UTCDateTime(), nullable=True)
        )
    key = op.create_table(
        "audit_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_key")),
    )
    op.bulk_insert(key, [{"id": 1, "key": secrets.token_hex(32), "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("audit_key")
    with op.batch_alter_table("request") as batch:
        batch.drop_column("personal_data_erased_at")
