"""Places and contacts: the registry's places (police stations, detention facilities, courts,
prosecutors' offices), how to reach a lawyer, where a request sends the lawyer and whom to
call there, and the time an accepting lawyer gave.

Revision ID: 7a3c5e1f9b20
Revises: 7b3e9d2f4a16
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a3c5e1f9b20"
down_revision: str | None = "7b3e9d2f4a16"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The words of `PlaceKind` as they were when this revision was made.
PLACE_KINDS = ("court", "detention_facility", "police_station", "prosecutor")


def upgrade() -> None:
    kinds = ", ".join(f"'{kind}'" for kind in PLACE_KINDS)
    op.create_table(
        "place",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("name_az", sa.String(length=200), nullable=False),
        sa.Column("name_ru", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.CheckConstraint(f"kind IN ({kinds})", name=op.f("ck_place_kind")),
        sa.ForeignKeyConstraint(
            ["territory_id"], ["territory.id"], name=op.f("fk_place_territory_id_territory")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_place")),
        sa.UniqueConstraint("code", name=op.f("uq_place_code")),
    )
    op.create_index(op.f("ix_place_territory_id"), "place", ["territory_id"], unique=False)
    with op.batch_alter_table("lawyer") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("photo", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("notify", sa.JSON(), nullable=False, server_default="[]"))
    # The default only fills the rows already there; the models give every new row its list.
    with op.batch_alter_table("lawyer") as batch:
        batch.alter_column("notify", server_default=None)
    with op.batch_alter_table("request") as batch:
        batch.add_column(sa.Column("place_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("contact_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("contact_phone", sa.String(length=32), nullable=True))
        batch.create_foreign_key(op.f("fk_request_place_id_place"), "place", ["place_id"], ["id"])
    with op.batch_alter_table("appointment") as batch:
        batch.add_column(sa.Column("eta_minutes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appointment") as batch:
        batch.drop_column("eta_minutes")
    with op.batch_alter_table("request") as batch:
        batch.drop_constraint(op.f("fk_request_place_id_place"), type_="foreignkey")
        batch.drop_column("contact_phone")
        batch.drop_column("contact_name")
        batch.drop_column("place_id")
    with op.batch_alter_table("lawyer") as batch:
        batch.drop_column("notify")
        batch.drop_column("photo")
        batch.drop_column("email")
        batch.drop_column("phone")
    op.drop_index(op.f("ix_place_territory_id"), table_name="place")
    op.drop_table("place")
