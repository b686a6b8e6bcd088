"""Index invitations by decision: the bar's reports join each decision to its invitation.

Revision ID: 5b1e0c2d7a41
Revises: cea7b19ce31f
Create Date: 2026-11-29 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "5b1e0c2d7a41"
down_revision: str | None = "cea7b19ce31f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_invitation_decision_id"), "invitation", ["decision_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_invitation_decision_id"), table_name="invitation")
