"""Duty rotas: a territory's rota over a period (draft or approved, with the planner's outcome,
figures and problems), its assignments, and lawyers' own limits on duty (leave, no nights, no
weekends) that the next rota respects.

Revision ID: e4a1c7b93d58
Revises: e4b7c9a2f018
Create Date: 2026-12-02 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatcher.db import UTCDateTime

revision: str = "e4a1c7b93d58"
down_revision: str | None = "e4b7c9a2f018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The vocabulary's words as they were when this revision was made.
AVAILABILITY_KINDS = ("leave", "no_nights", "no_weekends")
ROTA_STATUSES = ("approved", "draft")
ROTA_OUTCOMES = ("feasible", "infeasible", "optimal")


def _one_of(column: str, words: Sequence[str], table: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{word}'" for word in words)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def upgrade() -> None:
    op.create_table(
        "lawyer_availability",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=True),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _one_of("kind", AVAILABILITY_KINDS, "lawyer_availability"),
        sa.ForeignKeyConstraint(
            ["lawyer_id"],
            ["lawyer.id"],
            name=op.f("fk_lawyer_availability_lawyer_id_lawyer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lawyer_availability")),
    )
    op.create_index(op.f("ix_lawyer_availability_lawyer_id"), "lawyer_availability", ["lawyer_id"])
    op.create_table(
        "rota",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("solve_s", sa.Float(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        _one_of("status", ROTA_STATUSES, "rota"),
        _one_of("outcome", ROTA_OUTCOMES, "rota"),
        sa.ForeignKeyConstraint(
            ["territory_id"], ["territory.id"], name=op.f("fk_rota_territory_id_territory")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota")),
    )
    op.create_index("ix_rota_territory_status", "rota", ["territory_id", "status"])
    op.create_table(
        "rota_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rota_id", sa.String(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lawyer_id"], ["lawyer.id"], name=op.f("fk_rota_assignment_lawyer_id_lawyer")
        ),
        sa.ForeignKeyConstraint(
            ["rota_id"],
            ["rota.id"],
            name=op.f("fk_rota_assignment_rota_id_rota"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rota_assignment")),
    )
    op.create_index(op.f("ix_rota_assignment_rota_id"), "rota_assignment", ["rota_id"])
    op.create_index(
        "ix_rota_assignment_lawyer_starts_at", "rota_assignment", ["lawyer_id", "starts_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_rota_assignment_lawyer_starts_at", table_name="rota_assignment")
    op.drop_index(op.f("ix_rota_assignment_rota_id"), table_name="rota_assignment")
    op.drop_table("rota_assignment")
    op.drop_index("ix_rota_territory_status", table_name="rota")
    op.drop_table("rota")
    op.drop_index(op.f("ix_lawyer_availability_lawyer_id"), table_name="lawyer_availability")
    op.drop_table("lawyer_availability")
