"""Applications with their append-only history, idempotency keys, attachments, the mailbox.

Besides the tables: the sequence of the case numbers (``EG-<year>-<n>``) and a trigger that
refuses UPDATE and DELETE on ``application_history`` (the case history is append-only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:34:47.444855+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION egov_history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'application_history is append-only' USING ERRCODE = 'restrict_violation';
END $$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER application_history_append_only
BEFORE UPDATE OR DELETE ON application_history
FOR EACH ROW EXECUTE FUNCTION egov_history_append_only()
"""


def upgrade() -> None:
    op.execute("CREATE SEQUENCE application_reference_seq START 1")
    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.String(length=300), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("caller", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=40), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("service_code", sa.String(length=60), nullable=False),
        sa.Column("service_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("department", sa.String(length=60), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("applicant_sub", sa.String(length=255), nullable=True),
        sa.Column("applicant_name", sa.String(length=200), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("client_app", sa.String(length=100), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("file_number", sa.String(length=100), nullable=True),
        sa.Column("file_id", sa.Uuid(), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_alert_id", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_applications_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("reference", name=op.f("uq_applications_reference")),
        sa.UniqueConstraint("source_alert_id", name=op.f("uq_applications_source_alert_id")),
    )
    op.create_index(
        "ix_applications_applicant",
        "applications",
        ["applicant_sub", "submitted_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_applications_queue", "applications", ["department", "submitted_at", "id"], unique=False
    )
    op.create_index(
        "ix_applications_status", "applications", ["status", "submitted_at"], unique=False
    )
    op.create_table(
        "application_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=20), nullable=False),
        sa.Column("actor_sub", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_history_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_history")),
    )
    op.create_index(
        op.f("ix_application_history_application_id"),
        "application_history",
        ["application_id"],
        unique=False,
    )
    op.create_index(
        "uq_application_history_position",
        "application_history",
        ["application_id", "position"],
        unique=True,
    )
    op.create_table(
        "attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_sub", sa.String(length=255), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_attachments_application_id_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index(
        op.f("ix_attachments_application_id"), "attachments", ["application_id"], unique=False
    )
    op.create_index(op.f("ix_attachments_owner_sub"), "attachments", ["owner_sub"], unique=False)
    op.create_table(
        "mailbox_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("recipient_sub", sa.String(length=255), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachment_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_mailbox_messages_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_mailbox_messages_attachment_id_attachments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_messages")),
    )
    op.create_index(
        "ix_mailbox_recipient",
        "mailbox_messages",
        ["recipient_sub", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_mailbox_unread",
        "mailbox_messages",
        ["recipient_sub"],
        unique=False,
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER application_history_append_only ON application_history")
    op.execute("DROP FUNCTION egov_history_append_only()")
    op.drop_index(
        "ix_mailbox_unread",
        table_name="mailbox_messages",
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.drop_index("ix_mailbox_recipient", table_name="mailbox_messages")
    op.drop_table("mailbox_messages")
    op.drop_index(op.f("ix_attachments_owner_sub"), table_name="attachments")
    op.drop_index(op.f("ix_attachments_application_id"), table_name="attachments")
    op.drop_table("attachments")
    op.drop_index("uq_application_history_position", table_name="application_history")
    op.drop_index(op.f("ix_application_history_application_id"), table_name="application_history")
    op.drop_table("application_history")
    op.drop_index("ix_applications_status", table_name="applications")
    op.drop_index("ix_applications_queue", table_name="applications")
    op.drop_index("ix_applications_applicant", table_name="applications")
    op.drop_table("applications")
    op.drop_table("idempotency_keys")
    op.execute("DROP SEQUENCE application_reference_seq")
