"""Initial schema: the registry, requests, choices, invitations, appointments, rotation,
decisions, outbox and the audit chain.

Revision ID: cea7b19ce31f
Revises:
Create Date: 2026-11-29 04:16:27.967060
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import dispatcher.db

revision: str = "cea7b19ce31f"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
    )
    op.create_index(op.f("ix_audit_event_request_id"), "audit_event", ["request_id"], unique=False)
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "firm",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_firm")),
        sa.UniqueConstraint("code", name=op.f("uq_firm_code")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", dispatcher.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"], unique=False)
    op.create_table(
        "territory",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name_az", sa.String(length=200), nullable=False),
        sa.Column("name_ru", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("fallback", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_territory")),
        sa.UniqueConstraint("code", name=op.f("uq_territory_code")),
    )
    op.create_table(
        "firm_territory",
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firm.id"],
            name=op.f("fk_firm_territory_firm_id_firm"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_firm_territory_territory_id_territory"),
        ),
        sa.PrimaryKeyConstraint("firm_id", "territory_id", name=op.f("pk_firm_territory")),
    )
    op.create_index(
        op.f("ix_firm_territory_territory_id"), "firm_territory", ["territory_id"], unique=False
    )
    op.create_table(
        "lawyer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("specialisations", sa.JSON(), nullable=False),
        sa.Column("max_open", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("duty", sa.JSON(), nullable=False),
        sa.Column("last_offer_at", dispatcher.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["firm_id"], ["firm.id"], name=op.f("fk_lawyer_firm_id_firm")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lawyer")),
        sa.UniqueConstraint("licence", name=op.f("uq_lawyer_licence")),
    )
    op.create_index(op.f("ix_lawyer_firm_id"), "lawyer", ["firm_id"], unique=False)
    op.create_table(
        "requester",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["territory_id"], ["territory.id"], name=op.f("fk_requester_territory_id_territory")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requester")),
        sa.UniqueConstraint("role", "name", name=op.f("uq_requester_role_name")),
    )
    op.create_table(
        "rotation_state",
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("entitlement", sa.Float(), nullable=False),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firm.id"], name=op.f("fk_rotation_state_firm_id_firm")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_rotation_state_territory_id_territory"),
        ),
        sa.PrimaryKeyConstraint("territory_id", "firm_id", name=op.f("pk_rotation_state")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=True),
        sa.Column("lawyer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", dispatcher.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lawyer_id"], ["lawyer.id"], name=op.f("fk_api_token_lawyer_id_lawyer")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["requester.id"], name=op.f("fk_api_token_requester_id_requester")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_table(
        "conflict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["lawyer_id"],
            ["lawyer.id"],
            name=op.f("fk_conflict_lawyer_id_lawyer"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflict")),
        sa.UniqueConstraint(
            "lawyer_id", "case_number", "role", name=op.f("uq_conflict_lawyer_id_case_number_role")
        ),
    )
    op.create_index(op.f("ix_conflict_case_number"), "conflict", ["case_number"], unique=False)
    op.create_index(op.f("ix_conflict_lawyer_id"), "conflict", ["lawyer_id"], unique=False)
    op.create_table(
        "lawyer_territory",
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lawyer_id"],
            ["lawyer.id"],
            name=op.f("fk_lawyer_territory_lawyer_id_lawyer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"],
            ["territory.id"],
            name=op.f("fk_lawyer_territory_territory_id_territory"),
        ),
        sa.PrimaryKeyConstraint("lawyer_id", "territory_id", name=op.f("pk_lawyer_territory")),
    )
    op.create_index(
        op.f("ix_lawyer_territory_territory_id"), "lawyer_territory", ["territory_id"], unique=False
    )
    op.create_table(
        "request",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("external_ref", sa.String(length=128), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("person_name", sa.String(length=200), nullable=False),
        sa.Column("person_language", sa.String(length=8), nullable=False),
        sa.Column("person_juvenile", sa.Boolean(), nullable=False),
        sa.Column("callback_url", sa.String(length=2000), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("assigned_at", dispatcher.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["requester.id"], name=op.f("fk_request_requester_id_requester")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"], ["territory.id"], name=op.f("fk_request_territory_id_territory")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request")),
        sa.UniqueConstraint(
            "requester_id", "external_ref", name=op.f("uq_request_requester_id_external_ref")
        ),
    )
    op.create_index("ix_request_case_number", "request", ["case_number"], unique=False)
    op.create_index(op.f("ix_request_requester_id"), "request", ["requester_id"], unique=False)
    op.create_index(op.f("ix_request_status"), "request", ["status"], unique=False)
    op.create_index(op.f("ix_request_territory_id"), "request", ["territory_id"], unique=False)
    op.create_table(
        "decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("territory_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=True),
        sa.Column("lawyer_id", sa.Integer(), nullable=True),
        sa.Column("charged", sa.Boolean(), nullable=False),
        sa.Column("via_fallback", sa.String(length=16), nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("created_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["firm_id"], ["firm.id"], name=op.f("fk_decision_firm_id_firm")),
        sa.ForeignKeyConstraint(
            ["lawyer_id"], ["lawyer.id"], name=op.f("fk_decision_lawyer_id_lawyer")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["request.id"], name=op.f("fk_decision_request_id_request")
        ),
        sa.ForeignKeyConstraint(
            ["territory_id"], ["territory.id"], name=op.f("fk_decision_territory_id_territory")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision")),
    )
    op.create_index(op.f("ix_decision_request_id"), "decision", ["request_id"], unique=False)
    op.create_index(op.f("ix_decision_territory_id"), "decision", ["territory_id"], unique=False)
    op.create_table(
        "choice_session",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("created_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("spent_at", dispatcher.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decision.id"], name=op.f("fk_choice_session_decision_id_decision")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["request.id"], name=op.f("fk_choice_session_request_id_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_choice_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_choice_session_token_hash")),
    )
    op.create_index(
        op.f("ix_choice_session_request_id"), "choice_session", ["request_id"], unique=False
    )
    op.create_table(
        "decision_share",
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("charged", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decision.id"], name=op.f("fk_decision_share_decision_id_decision")
        ),
        sa.ForeignKeyConstraint(
            ["firm_id"], ["firm.id"], name=op.f("fk_decision_share_firm_id_firm")
        ),
        sa.PrimaryKeyConstraint("decision_id", "firm_id", name=op.f("pk_decision_share")),
    )
    op.create_index(op.f("ix_decision_share_firm_id"), "decision_share", ["firm_id"], unique=False)
    op.create_table(
        "invitation",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("deadline", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("created_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("answered_at", dispatcher.db.UTCDateTime(), nullable=True),
        sa.Column("decline_reason", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["decision_id"], ["decision.id"], name=op.f("fk_invitation_decision_id_decision")
        ),
        sa.ForeignKeyConstraint(["firm_id"], ["firm.id"], name=op.f("fk_invitation_firm_id_firm")),
        sa.ForeignKeyConstraint(
            ["lawyer_id"], ["lawyer.id"], name=op.f("fk_invitation_lawyer_id_lawyer")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["request.id"], name=op.f("fk_invitation_request_id_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
    )
    op.create_index(op.f("ix_invitation_lawyer_id"), "invitation", ["lawyer_id"], unique=False)
    op.create_index(
        "ix_invitation_lawyer_status", "invitation", ["lawyer_id", "status"], unique=False
    )
    op.create_index(op.f("ix_invitation_request_id"), "invitation", ["request_id"], unique=False)
    op.create_index(
        "ix_invitation_status_deadline", "invitation", ["status", "deadline"], unique=False
    )
    op.create_index(
        "uq_invitation_pending_request",
        "invitation",
        ["request_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "appointment",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("invitation_id", sa.String(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("opened_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", dispatcher.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["firm_id"], ["firm.id"], name=op.f("fk_appointment_firm_id_firm")),
        sa.ForeignKeyConstraint(
            ["invitation_id"],
            ["invitation.id"],
            name=op.f("fk_appointment_invitation_id_invitation"),
        ),
        sa.ForeignKeyConstraint(
            ["lawyer_id"], ["lawyer.id"], name=op.f("fk_appointment_lawyer_id_lawyer")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["request.id"], name=op.f("fk_appointment_request_id_request")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment")),
        sa.UniqueConstraint("invitation_id", name=op.f("uq_appointment_invitation_id")),
        sa.UniqueConstraint("request_id", name=op.f("uq_appointment_request_id")),
    )
    op.create_index(op.f("ix_appointment_lawyer_id"), "appointment", ["lawyer_id"], unique=False)
    op.create_index(
        "ix_appointment_lawyer_open", "appointment", ["lawyer_id", "closed_at"], unique=False
    )
    op.create_table(
        "choice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("session_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("own_counsel", sa.String(length=200), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("chosen_at", dispatcher.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lawyer_id"], ["lawyer.id"], name=op.f("fk_choice_lawyer_id_lawyer")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["request.id"], name=op.f("fk_choice_request_id_request")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["choice_session.id"], name=op.f("fk_choice_session_id_choice_session")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_choice")),
        sa.UniqueConstraint("session_id", name=op.f("uq_choice_session_id")),
    )
    op.create_index(op.f("ix_choice_request_id"), "choice", ["request_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_choice_request_id"), table_name="choice")
    op.drop_table("choice")
    op.drop_index("ix_appointment_lawyer_open", table_name="appointment")
    op.drop_index(op.f("ix_appointment_lawyer_id"), table_name="appointment")
    op.drop_table("appointment")
    op.drop_index(
        "uq_invitation_pending_request",
        table_name="invitation",
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_invitation_status_deadline", table_name="invitation")
    op.drop_index(op.f("ix_invitation_request_id"), table_name="invitation")
    op.drop_index("ix_invitation_lawyer_status", table_name="invitation")
    op.drop_index(op.f("ix_invitation_lawyer_id"), table_name="invitation")
    op.drop_table("invitation")
    op.drop_index(op.f("ix_decision_share_firm_id"), table_name="decision_share")
    op.drop_table("decision_share")
    op.drop_index(op.f("ix_choice_session_request_id"), table_name="choice_session")
    op.drop_table("choice_session")
    op.drop_index(op.f("ix_decision_territory_id"), table_name="decision")
    op.drop_index(op.f("ix_decision_request_id"), table_name="decision")
    op.drop_table("decision")
    op.drop_index(op.f("ix_request_territory_id"), table_name="request")
    op.drop_index(op.f("ix_request_status"), table_name="request")
    op.drop_index(op.f("ix_request_requester_id"), table_name="request")
    op.drop_index("ix_request_case_number", table_name="request")
    op.drop_table("request")
    op.drop_index(op.f("ix_lawyer_territory_territory_id"), table_name="lawyer_territory")
    op.drop_table("lawyer_territory")
    op.drop_index(op.f("ix_conflict_lawyer_id"), table_name="conflict")
    op.drop_index(op.f("ix_conflict_case_number"), table_name="conflict")
    op.drop_table("conflict")
    op.drop_table("api_token")
    op.drop_table("rotation_state")
    op.drop_table("requester")
    op.drop_index(op.f("ix_lawyer_firm_id"), table_name="lawyer")
    op.drop_table("lawyer")
    op.drop_index(op.f("ix_firm_territory_territory_id"), table_name="firm_territory")
    op.drop_table("firm_territory")
    op.drop_table("territory")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("firm")
    op.drop_table("audit_head")
    op.drop_index(op.f("ix_audit_event_request_id"), table_name="audit_event")
    op.drop_table("audit_event")
