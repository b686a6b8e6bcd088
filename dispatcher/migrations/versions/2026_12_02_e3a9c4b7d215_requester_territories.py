"""A requester's territories: where its requests may be filed, and whether anywhere.

Every existing requester keeps the one territory it was made with (`requester.territory_id`,
which stays as its home) as its only allowed territory; none may file anywhere until its token
is made again with `--any-territory`. An index lets the hourly limit count a requester's
requests in a territory without walking its history.

Revision ID: e3a9c4b7d215
Revises: c5d8e1a7f342
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3a9c4b7d215"
down_revision: str | None = "c5d8e1a7f342"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requester") as batch:
        batch.add_column(sa.Column("territories", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column("any_territory", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    conn = op.get_bind()
    homes = conn.execute(
        sa.text(
            "SELECT requester.id, territory.code FROM requester "
            "JOIN territory ON territory.id = requester.territory_id"
        )
    ).all()
    requester = sa.table(
        "requester", sa.column("id", sa.Integer), sa.column("territories", sa.JSON)
    )
    for requester_id, code in homes:
        conn.execute(
            sa.update(requester).where(requester.c.id == requester_id).values(territories=[code])
        )
    op.create_index(
        "ix_request_requester_territory_created",
        "request",
        ["requester_id", "territory_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_request_requester_territory_created", table_name="request")
    with op.batch_alter_table("requester") as batch:
        batch.drop_column("any_territory")
        batch.drop_column("territories")
