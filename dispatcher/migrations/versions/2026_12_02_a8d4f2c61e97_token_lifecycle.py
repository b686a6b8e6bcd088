"""Tokens have a lifecycle: an optional expiry and the last time each was used; the pages get
server-side sessions (the cookie holds a random id, stored hashed, never the API token).

Existing tokens keep working: no expiry, never used as far as the database knows.

Revision ID: a8d4f2c61e97
Revises: c5d8e1a7f342
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatcher.db

revision: str = "a8d4f2c61e97"
down_revision: str | None = "c5d8e1a7f342"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("expires_at", dispatcher.db.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("last_used_at", dispatcher.db.UTCDateTime(), nullable=True))
    op.create_table(
        "page_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("ended_at", dispatcher.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_token.id"], name=op.f("fk_page_session_token_id_api_token")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_page_session")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_page_session_session_hash")),
    )
    op.create_index(op.f("ix_page_session_token_id"), "page_session", ["token_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_page_session_token_id"), table_name="page_session")
    op.drop_table("page_session")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
