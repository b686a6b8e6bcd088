"""A requester's callback signing secret and its registered callback URL prefixes.

Existing requesters get no secret (one is made on first use) and no prefix (their requests may
not name a callback_url until a prefix is registered with `token create --callback-prefix`).

Revision ID: 7b3e9d2f4a16
Revises: 4e7c2a9b1d53
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b3e9d2f4a16"
down_revision: str | None = "4e7c2a9b1d53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requester") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("callback_prefixes", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("requester") as batch:
        batch.drop_column("callback_prefixes")
        batch.drop_column("webhook_secret")
