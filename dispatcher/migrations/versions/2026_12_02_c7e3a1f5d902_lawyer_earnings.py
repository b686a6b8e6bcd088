"""Lawyers' earnings kept a firm at a time: a charged decision writes one row a firm
(`lawyer_earning`) instead of one a lawyer, added to the lawyers' standings when read.

Revision ID: c7e3a1f5d902
Revises: b6d2f8a4c193
Create Date: 2026-12-02 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7e3a1f5d902"
down_revision: str | None = "b6d2f8a4c193"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lawyer_earning",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("earned", sa.Float(), nullable=False),
        sa.Column("lawyers", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firm.id"], name=op.f("fk_lawyer_earning_firm_id_firm")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_lawyer_earning_territory_id_territory"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lawyer_earning")),
    )
    op.create_index("ix_lawyer_earning_firm", "lawyer_earning", ["firm_id", "territory_id", "id"])


def downgrade() -> None:
    # The earnings not yet added go into the lawyers' standings first, in the order written.
    bind = op.get_bind()
    earned: dict[tuple[int, int], list[float]] = {}
    for territory_id, amount, lawyers in bind.execute(
        sa.text("SELECT territory_id, earned, lawyers FROM lawyer_earning ORDER BY id")
    ):
        for lawyer in lawyers.split(","):
            earned.setdefault((territory_id, int(lawyer)), []).append(amount)
    for (territory_id, lawyer_id), amounts in earned.items():
        key = {"t": territory_id, "l": lawyer_id}
        found = bind.execute(
            sa.text(
                "SELECT entitlement FROM lawyer_rotation_state "
                "WHERE territory_id = :t AND lawyer_id = :l"
            ),
            key,
        ).scalar()
        total = 0.0 if found is None else float(found)
        for amount in amounts:
            total += amount
        if found is None:
            bind.execute(
                sa.text(
                    "INSERT INTO lawyer_rotation_state (territory_id, lawyer_id, entitlement, "
                    "offers) VALUES (:t, :l, :e, 0)"
                ),
                {**key, "e": total},
            )
        else:
            bind.execute(
                sa.text(
                    "UPDATE lawyer_rotation_state SET entitlement = :e "
                    "WHERE territory_id = :t AND lawyer_id = :l"
                ),
                {**key, "e": total},
            )
    op.drop_index("ix_lawyer_earning_firm", table_name="lawyer_earning")
    op.drop_table("lawyer_earning")
