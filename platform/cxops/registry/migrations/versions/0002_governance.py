"""Governance: stage transitions, approvals, the hash-chained audit log, API tokens and retraining flags;
at most one production version per model.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
_PRODUCTION = sa.text("stage = 'production'")


def _version_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["model", "version"],
        ["model_versions.model", "model_versions.version"],
        name=f"fk_{table}_model_version_model_versions",
    )


def upgrade() -> None:
    # The database itself refuses a second production version of a model, whatever the caller does.
    op.create_index(
        "uq_model_versions_one_production",
        "model_versions",
        ["model"],
        unique=True,
        sqlite_where=_PRODUCTION,
        postgresql_where=_PRODUCTION,
    )
    op.create_table(
        "stage_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=False),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("gates", JSON, nullable=False),
        sa.Column("approvals", JSON, nullable=False),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stage_transitions"),
        _version_fk("stage_transitions"),
    )
    op.create_index("ix_stage_transitions_model", "stage_transitions", ["model"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("target_stage", sa.String(16), nullable=False),
        sa.Column("approver", sa.String(256), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("used_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
        _version_fk("approvals"),
        sa.ForeignKeyConstraint(
            ["used_by"], ["stage_transitions.id"], name="fk_approvals_used_by_stage_transitions"
        ),
    )
    op.create_index("ix_approvals_model", "approvals", ["model"])
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        # Canonical JSON text, not JSONB: the hash covers these exact bytes.
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
        # One successor per event: two writers appending at once cannot fork the chain.
        sa.UniqueConstraint("prev_hash", name="uq_audit_events_prev_hash"),
        sa.UniqueConstraint("hash", name="uq_audit_events_hash"),
    )
    op.create_index("ix_audit_events_model", "audit_events", ["model"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_table(
        "retraining_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("due_by", TIMESTAMP, nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("resolved_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retraining_flags"),
        _version_fk("retraining_flags"),
    )


def downgrade() -> None:
    op.drop_table("retraining_flags")
    op.drop_table("api_tokens")
    op.drop_index("ix_audit_events_model", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_index("ix_approvals_model", table_name="approvals")
    op.drop_table("approvals")
    op.drop_index("ix_stage_transitions_model", table_name="stage_transitions")
    op.drop_table("stage_transitions")
    op.drop_index("uq_model_versions_one_production", table_name="model_versions")
