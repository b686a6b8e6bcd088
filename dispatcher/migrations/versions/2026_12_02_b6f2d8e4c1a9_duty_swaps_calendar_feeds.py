"""Duty swaps (a lawyer's approved duty offered to a colleague, with its answer or the rule that
refused it) and calendar feeds (a lawyer's subscription link, its token stored hashed).

Revision ID: b6f2d8e4c1a9
Revises: e3a9c4b7d215
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatcher.db import UTCDateTime

revision: str = "b6f2d8e4c1a9"
down_revision: str | None = "e3a9c4b7d215"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The vocabulary's words as they were when this revision was made.
SWAP_STATUSES = ("accepted", "declined", "offered", "refused", "withdrawn")
SWAP_PROBLEMS = (
    "availability",
    "juvenile",
    "language",
    "not_approved",
    "overlap",
    "past",
    "rest",
    "territory",
    "weekly_cap",
)


def _one_of(column: str, words: Sequence[str], table: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{word}'" for word in words)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    op.create_table(
        "duty_swap",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("from_lawyer_id", sa.Integer(), nullable=False),
        sa.Column("to_lawyer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("problem", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        _one_of("status", SWAP_STATUSES, "duty_swap"),
        _one_of("problem", SWAP_PROBLEMS, "duty_swap"),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["rota_assignment.id"],
            name=op.f("fk_duty_swap_assignment_id_rota_assignment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["from_lawyer_id"], ["lawyer.id"], name=op.f("fk_duty_swap_from_lawyer_id_lawyer")
        ),
        sa.ForeignKeyConstraint(
            ["to_lawyer_id"], ["lawyer.id"], name=op.f("fk_duty_swap_to_lawyer_id_lawyer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_swap")),
    )
    op.create_index(op.f("ix_duty_swap_assignment_id"), "duty_swap", ["assignment_id"])
    op.create_index(op.f("ix_duty_swap_from_lawyer_id"), "duty_swap", ["from_lawyer_id"])
    op.create_index("ix_duty_swap_to_lawyer_status", "duty_swap", ["to_lawyer_id", "status"])
    op.create_table(
        "calendar_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lawyer_id"],
            ["lawyer.id"],
            name=op.f("fk_calendar_feed_lawyer_id_lawyer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feed_token_hash")),
    )
    op.create_index(op.f("ix_calendar_feed_lawyer_id"), "calendar_feed", ["lawyer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_calendar_feed_lawyer_id"), table_name="calendar_feed")
    op.drop_table("calendar_feed")
    op.drop_index("ix_duty_swap_to_lawyer_status", table_name="duty_swap")
    op.drop_index(op.f("ix_duty_swap_from_lawyer_id"), table_name="duty_swap")
    op.drop_index(op.f("ix_duty_swap_assignment_id"), table_name="duty_swap")
    op.drop_table("duty_swap")
