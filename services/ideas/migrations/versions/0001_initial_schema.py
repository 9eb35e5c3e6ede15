"""Initial schema: ideas, forums, participation, circles, chronicle, FAQ, outbox and inbox.

Besides the tables: the ``pg_trgm`` extension (substring search inside compound words) and the
IMMUTABLE ``ideas_tags_text`` function the generated search columns need
(``array_to_string`` itself is only STABLE).

Revision ID: 0001
Revises:
Create Date: 2026-11-26 13:53:23.362821+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TAGS_TEXT_FUNCTION = """
CREATE OR REPLACE FUNCTION ideas_tags_text(tags text[]) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT coalesce(array_to_string(tags, ' '), '') $$
"""

# Every text field, lower-cased: pg_trgm substring matches inside compound words.
SEARCH_TEXT = (
    "lower(title || ' ' || problem_statement || ' ' || proposed_solution || ' ' || added_value"
    " || ' ' || description || ' ' || ideas_tags_text(tags) || ' ' || coalesce(answer, ''))"
)
# German stemming, weighted: title A, problem and solution B, the rest C.
SEARCH_VECTOR = (
    "setweight(to_tsvector('german'::regconfig, title), 'A')"
    " || setweight(to_tsvector('german'::regconfig,"
    " problem_statement || ' ' || proposed_solution), 'B')"
    " || setweight(to_tsvector('german'::regconfig,"
    " added_value || ' ' || description || ' ' || ideas_tags_text(tags)"
    " || ' ' || coalesce(answer, '')), 'C')"
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(TAGS_TEXT_FUNCTION)
    op.create_table(
        "chronicle_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.String(length=255), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("idea_id", sa.Uuid(), nullable=True),
        sa.Column("link_url", sa.String(length=2000), nullable=True),
        sa.Column("source_event_id", sa.String(length=255), nullable=True),
        sa.Column("comment_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('news', 'idea_implemented', 'decision_taken', 'announcement')",
            name=op.f("ck_chronicle_entries_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chronicle_entries")),
        sa.UniqueConstraint("source_event_id", name=op.f("uq_chronicle_entries_source_event_id")),
    )
    op.create_index("ix_chronicle_entries_idea", "chronicle_entries", ["idea_id"], unique=False)
    op.create_index(
        "ix_chronicle_entries_published", "chronicle_entries", ["published_at", "id"], unique=False
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_departments_code")),
        sa.UniqueConstraint("name", name=op.f("uq_departments_name")),
    )
    op.create_table(
        "faq_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("question", sa.String(length=300), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faq_entries")),
        sa.UniqueConstraint("question", name=op.f("uq_faq_entries_question")),
    )
    op.create_index("ix_faq_entries_position", "faq_entries", ["position", "id"], unique=False)
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
        "meetings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column(
            "participants",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
    )
    op.create_index("ix_meetings_scheduled", "meetings", ["scheduled_at", "id"], unique=False)
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
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("seq", name=op.f("uq_outbox_seq")),
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["seq"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "chronicle_comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("author_id", sa.String(length=255), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["chronicle_entries.id"],
            name=op.f("fk_chronicle_comments_entry_id_chronicle_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["chronicle_comments.id"],
            name=op.f("fk_chronicle_comments_parent_id_chronicle_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chronicle_comments")),
    )
    op.create_index(
        "ix_chronicle_comments_parent",
        "chronicle_comments",
        ["parent_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_chronicle_comments_thread",
        "chronicle_comments",
        ["entry_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "ideas",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("problem_statement", sa.Text(), nullable=False),
        sa.Column("proposed_solution", sa.Text(), nullable=False),
        sa.Column("added_value", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.String(length=40)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("author_id", sa.String(length=255), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=False),
        sa.Column("endorsement_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("change_agent_comment_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("leaders_comment_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change_agent_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leaders_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "search_text",
            sa.Text(),
            sa.Computed(
                SEARCH_TEXT,
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                SEARCH_VECTOR,
                persisted=True,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('idea', 'in_progress', 'implemented', 'rejected', 'for_decision')",
            name=op.f("ck_ideas_status"),
        ),
        sa.CheckConstraint("endorsement_count >= 0", name=op.f("ck_ideas_endorsement_count")),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_ideas_department_id_departments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ideas")),
    )
    op.create_index("ix_ideas_activity", "ideas", ["last_activity_at", "id"], unique=False)
    op.create_index("ix_ideas_author_created", "ideas", ["author_id", "created_at"], unique=False)
    op.create_index("ix_ideas_created", "ideas", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_ideas_department_created", "ideas", ["department_id", "created_at"], unique=False
    )
    op.create_index("ix_ideas_endorsed", "ideas", ["endorsement_count", "id"], unique=False)
    op.create_index(
        "ix_ideas_search_text_trgm",
        "ideas",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_ideas_search_vector", "ideas", ["search_vector"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_ideas_status_created", "ideas", ["status", "created_at"], unique=False)
    op.create_index("ix_ideas_tags", "ideas", ["tags"], unique=False, postgresql_using="gin")
    op.create_table(
        "agenda_items",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("idea_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("outcome_status", sa.String(length=32), nullable=True),
        sa.Column("outcome_reason", sa.Text(), nullable=True),
        sa.Column("outcome_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_recorded_by", sa.String(length=255), nullable=True),
        sa.CheckConstraint(
            "(kind = 'topic') = (idea_id IS NULL)", name=op.f("ck_agenda_items_idea_iff_not_topic")
        ),
        sa.CheckConstraint(
            "kind IN ('new_idea', 'for_decision', 'idea', 'topic')",
            name=op.f("ck_agenda_items_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["idea_id"],
            ["ideas.id"],
            name=op.f("fk_agenda_items_idea_id_ideas"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_agenda_items_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_items")),
        sa.UniqueConstraint("meeting_id", "idea_id", name="uq_agenda_items_meeting_idea"),
    )
    op.create_index("ix_agenda_items_idea", "agenda_items", ["idea_id"], unique=False)
    op.create_index(
        "ix_agenda_items_meeting", "agenda_items", ["meeting_id", "position"], unique=False
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idea_id", sa.Uuid(), nullable=False),
        sa.Column("forum", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("author_id", sa.String(length=255), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("forum IN ('change_agents', 'leaders')", name=op.f("ck_comments_forum")),
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_comments_not_own_parent")
        ),
        sa.ForeignKeyConstraint(
            ["idea_id"], ["ideas.id"], name=op.f("fk_comments_idea_id_ideas"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["comments.id"],
            name=op.f("fk_comments_parent_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(
        "ix_comments_parent", "comments", ["parent_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_comments_thread", "comments", ["idea_id", "forum", "created_at", "id"], unique=False
    )
    op.create_table(
        "endorsements",
        sa.Column("idea_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["idea_id"],
            ["ideas.id"],
            name=op.f("fk_endorsements_idea_id_ideas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("idea_id", "user_id", name=op.f("pk_endorsements")),
    )
    op.create_table(
        "follows",
        sa.Column("idea_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["idea_id"], ["ideas.id"], name=op.f("fk_follows_idea_id_ideas"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("idea_id", "user_id", name=op.f("pk_follows")),
    )
    op.create_index("ix_follows_user", "follows", ["user_id", "idea_id"], unique=False)
    op.create_table(
        "idea_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idea_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("actor_id", sa.String(length=255), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('created', 'updated', 'status_changed')", name=op.f("ck_idea_history_kind")
        ),
        sa.ForeignKeyConstraint(
            ["idea_id"],
            ["ideas.id"],
            name=op.f("fk_idea_history_idea_id_ideas"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idea_history")),
    )
    op.create_index(
        "ix_idea_history_idea", "idea_history", ["idea_id", "occurred_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_idea_history_idea", table_name="idea_history")
    op.drop_table("idea_history")
    op.drop_index("ix_follows_user", table_name="follows")
    op.drop_table("follows")
    op.drop_table("endorsements")
    op.drop_index("ix_comments_thread", table_name="comments")
    op.drop_index("ix_comments_parent", table_name="comments")
    op.drop_table("comments")
    op.drop_index("ix_agenda_items_meeting", table_name="agenda_items")
    op.drop_index("ix_agenda_items_idea", table_name="agenda_items")
    op.drop_table("agenda_items")
    op.drop_index("ix_ideas_tags", table_name="ideas", postgresql_using="gin")
    op.drop_index("ix_ideas_status_created", table_name="ideas")
    op.drop_index("ix_ideas_search_vector", table_name="ideas", postgresql_using="gin")
    op.drop_index(
        "ix_ideas_search_text_trgm",
        table_name="ideas",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index("ix_ideas_endorsed", table_name="ideas")
    op.drop_index("ix_ideas_department_created", table_name="ideas")
    op.drop_index("ix_ideas_created", table_name="ideas")
    op.drop_index("ix_ideas_author_created", table_name="ideas")
    op.drop_index("ix_ideas_activity", table_name="ideas")
    op.drop_table("ideas")
    op.drop_index("ix_chronicle_comments_thread", table_name="chronicle_comments")
    op.drop_index("ix_chronicle_comments_parent", table_name="chronicle_comments")
    op.drop_table("chronicle_comments")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox")
    op.drop_index("ix_meetings_scheduled", table_name="meetings")
    op.drop_table("meetings")
    op.drop_index(op.f("ix_inbox_received_at"), table_name="inbox")
    op.drop_table("inbox")
    op.drop_index("ix_faq_entries_position", table_name="faq_entries")
    op.drop_table("faq_entries")
    op.drop_table("departments")
    op.drop_index("ix_chronicle_entries_published", table_name="chronicle_entries")
    op.drop_index("ix_chronicle_entries_idea", table_name="chronicle_entries")
    op.drop_table("chronicle_entries")
    op.execute("DROP FUNCTION IF EXISTS ideas_tags_text(text[])")
