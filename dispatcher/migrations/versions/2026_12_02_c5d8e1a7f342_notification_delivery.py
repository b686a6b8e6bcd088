"""Notification delivery: each channel's attempt for an outbox message, whether an invitation's
notification reached the lawyer, the invitation that reached nobody (`undeliverable`) and the
outbox message given up on (`failed`).

Revision ID: c5d8e1a7f342
Revises: 3c8f1a6d2e57
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatcher.db

revision: str = "c5d8e1a7f342"
down_revision: str | None = "3c8f1a6d2e57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The words as they were when this revision was made (before, then after).
INVITATION_STATUS = ("accepted", "declined", "expired", "pending", "withdrawn")
INVITATION_STATUS_NOW = (*INVITATION_STATUS, "undeliverable")
OUTBOX_STATUS = ("delivered", "pending")
OUTBOX_STATUS_NOW = (*OUTBOX_STATUS, "failed")
DELIVERY = ("delivered", "failed", "pending")


def _in(column: str, words: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(f'{word!r}' for word in sorted(words))})"


def upgrade() -> None:
    op.create_table(
        "outbox_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["outbox.id"], name=op.f("fk_outbox_attempt_message_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempt")),
    )
    op.create_index(
        op.f("ix_outbox_attempt_message_id"), "outbox_attempt", ["message_id"], unique=False
    )
    with op.batch_alter_table("invitation") as batch:
        batch.add_column(
            sa.Column("delivery", sa.String(length=16), nullable=False, server_default="pending")
        )
        batch.drop_constraint(op.f("ck_invitation_status"), type_="check")
        batch.create_check_constraint("status", _in("status", INVITATION_STATUS_NOW))
        batch.create_check_constraint("delivery", _in("delivery", DELIVERY))
    # The default only fills the rows already there; the models give every new row its value.
    with op.batch_alter_table("invitation") as batch:
        batch.alter_column("delivery", server_default=None)
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint("status", _in("status", OUTBOX_STATUS_NOW))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint("status", _in("status", OUTBOX_STATUS))
    with op.batch_alter_table("invitation") as batch:
        batch.drop_constraint(op.f("ck_invitation_delivery"), type_="check")
        batch.drop_constraint(op.f("ck_invitation_status"), type_="check")
        batch.create_check_constraint("status", _in("status", INVITATION_STATUS))
        batch.drop_column("delivery")
    op.drop_index(op.f("ix_outbox_attempt_message_id"), table_name="outbox_attempt")
    op.drop_table("outbox_attempt")
