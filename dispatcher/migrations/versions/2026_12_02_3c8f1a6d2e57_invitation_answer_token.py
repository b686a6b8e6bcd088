"""The invitation's answer link: the SHA-256 of the token a lawyer answers with, unsigned in.

Revision ID: 3c8f1a6d2e57
Revises: 7a3c5e1f9b20
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c8f1a6d2e57"
down_revision: str | None = "7a3c5e1f9b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invitation") as batch:
        batch.add_column(sa.Column("answer_token_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_invitation_answer_token_hash"), ["answer_token_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("invitation") as batch:
        batch.drop_constraint(op.f("uq_invitation_answer_token_hash"), type_="unique")
        batch.drop_column("answer_token_hash")
