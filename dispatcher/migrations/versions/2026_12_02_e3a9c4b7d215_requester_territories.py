"""A requester's territories: where its requests may be filed, and whether anywhere; and the
requests refused before they were written (outside those territories, beyond the hourly limit).

Every existing requester keeps the one territory it was made with (`requester.territory_id`,
which stays as its home) as its only allowed territory; none may file anywhere until its token
is made again with `--any-territory`. An index lets the hourly limit count a requester's
requests in a territory without walking its history.

Revision ID: e3a9c4b7d215
Revises: e4a1c7b93d58
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatcher.db import UTCDateTime

revision: str = "e3a9c4b7d215"
down_revision: str | None = "e4a1c7b93d58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The words of `Refusal` as they were when this revision was made.
REFUSALS = ("hourly_limit", "outside_territories")


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
    reasons = ", ".join(f"'{reason}'" for reason in REFUSALS)
    op.create_table(
        "request_refusal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("territory", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(f"reason IN ({reasons})", name=op.f("ck_request_refusal_reason")),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["requester.id"],
            name=op.f("fk_request_refusal_requester_id_requester"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_refusal")),
    )
    op.create_index(op.f("ix_request_refusal_at"), "request_refusal", ["at"], unique=False)
    op.create_index(
        "ix_request_requester_territory_created",
        "request",
        ["requester_id", "territory_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_request_requester_territory_created", table_name="request")
    op.drop_index(op.f("ix_request_refusal_at"), table_name="request_refusal")
    op.drop_table("request_refusal")
    with op.batch_alter_table("requester") as batch:
        batch.drop_column("any_territory")
        batch.drop_column("territories")
