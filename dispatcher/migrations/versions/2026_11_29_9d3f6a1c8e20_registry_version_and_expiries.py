"""The registry's version (processes keep registry facts between decisions while it holds),
and partial indexes of the open work alone: a lawyer's open appointments, pending invitations
and expired invitations by deadline, so that a decision finds them without the history.

Revision ID: 9d3f6a1c8e20
Revises: 5b1e0c2d7a41
Create Date: 2026-11-29 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d3f6a1c8e20"
down_revision: str | None = "5b1e0c2d7a41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_version")),
    )
    op.execute("INSERT INTO registry_version (id, version) VALUES (1, 'initial')")
    op.create_index(
        "ix_invitation_lawyer_pending",
        "invitation",
        ["lawyer_id"],
        unique=False,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_invitation_lawyer_expired",
        "invitation",
        ["lawyer_id", "deadline"],
        unique=False,
        sqlite_where=sa.text("status = 'expired'"),
        postgresql_where=sa.text("status = 'expired'"),
    )
    op.drop_index("ix_invitation_lawyer_status", table_name="invitation")
    op.drop_index("ix_appointment_lawyer_open", table_name="appointment")
    op.create_index(
        "ix_appointment_lawyer_open",
        "appointment",
        ["lawyer_id"],
        unique=False,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_appointment_lawyer_open", table_name="appointment")
    op.create_index(
        "ix_appointment_lawyer_open", "appointment", ["lawyer_id", "closed_at"], unique=False
    )
    op.create_index(
        "ix_invitation_lawyer_status", "invitation", ["lawyer_id", "status"], unique=False
    )
    op.drop_index("ix_invitation_lawyer_expired", table_name="invitation")
    op.drop_index("ix_invitation_lawyer_pending", table_name="invitation")
    op.drop_table("registry_version")
