"""Fairness to each lawyer: a lawyer's running entitlement and offers in a territory's
rotation, and the pauses of lawyers who let invitations lapse.

Revision ID: b6d2f8a4c193
Revises: b6f2d8e4c1a9
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatcher.db import UTCDateTime

revision: str = "b6d2f8a4c193"
down_revision: str | None = "b6f2d8e4c1a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lawyer_rotation_state",
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("entitlement", sa.Float(), nullable=False),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lawyer_id"], ["lawyer.id"], name=op.f("fk_lawyer_rotation_state_lawyer_id_lawyer")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_lawyer_rotation_state_territory_id_territory"),
        ),
        sa.PrimaryKeyConstraint("territory_id", "lawyer_id", name=op.f("pk_lawyer_rotation_state")),
    )
    op.create_table(
        "lawyer_pause",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("lapses", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lawyer_id"],
            ["lawyer.id"],
            name=op.f("fk_lawyer_pause_lawyer_id_lawyer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lawyer_pause")),
    )
    op.create_index(op.f("ix_lawyer_pause_lawyer_id"), "lawyer_pause", ["lawyer_id"])
    op.create_index(op.f("ix_lawyer_pause_ends_at"), "lawyer_pause", ["ends_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lawyer_pause_ends_at"), table_name="lawyer_pause")
    op.drop_index(op.f("ix_lawyer_pause_lawyer_id"), table_name="lawyer_pause")
    op.drop_table("lawyer_pause")
    op.drop_table("lawyer_rotation_state")
