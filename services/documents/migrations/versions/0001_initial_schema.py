"""Initial schema: file plan, case files, processes, documents, versions, blobs, audit trail.

Besides the tables: the ``pg_trgm`` extension (substring search inside compound words) and the
trigger that makes ``audit_events`` append-only: UPDATE, DELETE and TRUNCATE raise, for every
database user including the table's owner (only disabling the trigger, a DDL change that is
itself visible, could get around it).

Revision ID: 0001
Revises:
Create Date: 2026-11-29 09:26:13.709687+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("actor_roles", sa.String(length=500), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=True),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_file", "audit_events", ["file_id", "id"], unique=False)
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_blobs_sha256")),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer_group", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=True),
        sa.Column("partition", sa.Integer(), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer_group", "event_id", name=op.f("pk_inbox")),
    )
    op.create_index(op.f("ix_inbox_received_at"), "inbox", ["received_at"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("aggregatetype", sa.String(length=255), nullable=False),
        sa.Column("aggregateid", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("seq", name=op.f("uq_outbox_seq")),
    )
    op.create_index(
        "ix_outbox_failing",
        "outbox",
        ["aggregateid", "seq"],
        unique=False,
        postgresql_where=sa.text("attempts > 0"),
    )
    op.create_table(
        "plan_units",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("retention_years", sa.SmallInteger(), nullable=True),
        sa.Column("archive_decision", sa.String(length=1), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "archive_decision IN ('A', 'B', 'V')", name=op.f("ck_plan_units_archive_decision")
        ),
        sa.CheckConstraint(
            "retention_years IS NULL OR retention_years BETWEEN 0 AND 200",
            name=op.f("ck_plan_units_retention_years"),
        ),
        sa.CheckConstraint(
            "valid_until IS NULL OR valid_until >= valid_from", name=op.f("ck_plan_units_validity")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["plan_units.id"],
            name=op.f("fk_plan_units_parent_id_plan_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_units")),
        sa.UniqueConstraint("code", name=op.f("uq_plan_units_code")),
    )
    op.create_index(op.f("ix_plan_units_parent_id"), "plan_units", ["parent_id"], unique=False)
    op.create_table(
        "case_files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_unit_id", sa.Uuid(), nullable=False),
        sa.Column("file_number", sa.String(length=80), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("confidentiality", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("source_key", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name=op.f("ck_case_files_closed_at")
        ),
        sa.CheckConstraint(
            "confidentiality IN ('normal', 'confidential')",
            name=op.f("ck_case_files_confidentiality"),
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_case_files_status")),
        sa.ForeignKeyConstraint(
            ["plan_unit_id"],
            ["plan_units.id"],
            name=op.f("fk_case_files_plan_unit_id_plan_units"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_files")),
        sa.UniqueConstraint("file_number", name=op.f("uq_case_files_file_number")),
        sa.UniqueConstraint("plan_unit_id", "year", "sequence", name="uq_case_files_sequence"),
        sa.UniqueConstraint("source_key", name=op.f("uq_case_files_source_key")),
    )
    op.create_index("ix_case_files_department", "case_files", ["department", "id"], unique=False)
    op.create_index("ix_case_files_opened", "case_files", ["opened_at", "id"], unique=False)
    op.create_index(
        op.f("ix_case_files_plan_unit_id"), "case_files", ["plan_unit_id"], unique=False
    )
    op.create_table(
        "file_number_counters",
        sa.Column("plan_unit_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_unit_id"],
            ["plan_units.id"],
            name=op.f("fk_file_number_counters_plan_unit_id_plan_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("plan_unit_id", "year", name=op.f("pk_file_number_counters")),
    )
    op.create_table(
        "file_readers",
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("added_by", sa.String(length=255), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["case_files.id"],
            name=op.f("fk_file_readers_file_id_case_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", "subject", name=op.f("pk_file_readers")),
    )
    op.create_table(
        "processes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=True),
        sa.Column("source_id", sa.Uuid(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL)", name=op.f("ck_processes_closed_at")
        ),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_processes_status")),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["case_files.id"],
            name=op.f("fk_processes_file_id_case_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processes")),
        sa.UniqueConstraint("file_id", "sequence", name="uq_processes_sequence"),
        sa.UniqueConstraint("source", "source_id", name="uq_processes_source"),
    )
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("process_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("content_text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "search_text",
            sa.Text(),
            sa.Computed("lower(title || ' ' || content_text)", persisted=True),
            nullable=False,
        ),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('german'::regconfig, title), 'A')"
                " || setweight(to_tsvector('german'::regconfig, content_text), 'B')",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["case_files.id"],
            name=op.f("fk_documents_file_id_case_files"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["process_id"],
            ["processes.id"],
            name=op.f("fk_documents_process_id_processes"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
    )
    op.create_index("ix_documents_file", "documents", ["file_id", "created_at", "id"], unique=False)
    op.create_index(op.f("ix_documents_process_id"), "documents", ["process_id"], unique=False)
    op.create_index(
        "ix_documents_search_text_trgm",
        "documents",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_with={"fastupdate": "off"},
    )
    op.create_index(
        "ix_documents_search_vector",
        "documents",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )
    op.create_table(
        "document_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_document_versions_version")),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_document_versions_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sha256"],
            ["blobs.sha256"],
            name=op.f("fk_document_versions_sha256_blobs"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_versions")),
        sa.UniqueConstraint("document_id", "version", name="uq_document_versions_version"),
    )
    op.create_index(
        op.f("ix_document_versions_sha256"), "document_versions", ["sha256"], unique=False
    )
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events"
        " FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_document_versions_sha256"), table_name="document_versions")
    op.drop_table("document_versions")
    op.drop_index(
        "ix_documents_search_vector",
        table_name="documents",
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )
    op.drop_index(
        "ix_documents_search_text_trgm",
        table_name="documents",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        postgresql_with={"fastupdate": "off"},
    )
    op.drop_index(op.f("ix_documents_process_id"), table_name="documents")
    op.drop_index("ix_documents_file", table_name="documents")
    op.drop_table("documents")
    op.drop_table("processes")
    op.drop_table("file_readers")
    op.drop_table("file_number_counters")
    op.drop_index(op.f("ix_case_files_plan_unit_id"), table_name="case_files")
    op.drop_index("ix_case_files_opened", table_name="case_files")
    op.drop_index("ix_case_files_department", table_name="case_files")
    op.drop_table("case_files")
    op.drop_index(op.f("ix_plan_units_parent_id"), table_name="plan_units")
    op.drop_table("plan_units")
    op.drop_index("ix_outbox_failing", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index(op.f("ix_inbox_received_at"), table_name="inbox")
    op.drop_table("inbox")
    op.drop_table("blobs")
    op.drop_index("ix_audit_events_file", table_name="audit_events")
    op.drop_table("audit_events")
    op.execute("DROP FUNCTION audit_events_refuse_change()")
