"""Canary releases: one row per canary, at most one active per model.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
_ACTIVE = sa.text("status IN ('running', 'paused')")


def upgrade() -> None:
    op.create_table(
        "canaries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("stable_version", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=False),
        sa.Column("auto", sa.Boolean(), nullable=False),
        sa.Column("started_by", sa.String(256), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_canaries"),
        sa.CheckConstraint("mode IN ('split', 'shadow')", name="ck_canaries_mode"),
        sa.CheckConstraint(
            "status IN ('running', 'paused', 'promoted', 'rolled_back')", name="ck_canaries_status"
        ),
        sa.CheckConstraint("percent >= 0 AND percent <= 100", name="ck_canaries_percent"),
        sa.ForeignKeyConstraint(
            ["model", "candidate_version"],
            ["model_versions.model", "model_versions.version"],
            name="fk_canaries_model_candidate_version_model_versions",
        ),
        sa.ForeignKeyConstraint(
            ["model", "stable_version"],
            ["model_versions.model", "model_versions.version"],
            name="fk_canaries_model_stable_version_model_versions",
        ),
    )
    # The database refuses a second active canary of a model, whatever the caller does.
    op.create_index(
        "uq_canaries_one_active",
        "canaries",
        ["model"],
        unique=True,
        sqlite_where=_ACTIVE,
        postgresql_where=_ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_canaries_one_active", table_name="canaries")
    op.drop_table("canaries")
