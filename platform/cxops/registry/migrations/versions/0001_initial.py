"""Initial schema: datasets, validations, model versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types: a migration must not change when the ORM models do.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("model", "version", name="uq_datasets_model_version"),
    )
    op.create_table(
        "validations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("dataset_version", sa.String(128), nullable=False),
        sa.Column("suite", sa.String(256), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("statistics", JSON, nullable=False),
        sa.Column("report_uri", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_validations"),
        sa.ForeignKeyConstraint(
            ["model", "dataset_version"],
            ["datasets.model", "datasets.version"],
            name="fk_validations_model_dataset_version_datasets",
        ),
    )
    op.create_index("ix_validations_model", "validations", ["model"])
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("artifacts", JSON, nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("lineage", JSON, nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("team", sa.String(256), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("dataset_version", sa.String(128), nullable=True),
        sa.Column("bento_tag", sa.String(256), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("model", "version", name="uq_model_versions_model_version"),
        sa.CheckConstraint(
            "stage IN ('candidate', 'staging', 'production', 'archived')", name="ck_model_versions_stage"
        ),
        sa.CheckConstraint("version > 0", name="ck_model_versions_version_positive"),
        sa.ForeignKeyConstraint(
            ["model", "dataset_version"],
            ["datasets.model", "datasets.version"],
            name="fk_model_versions_model_dataset_version_datasets",
        ),
    )


def downgrade() -> None:
    op.drop_table("model_versions")
    op.drop_index("ix_validations_model", table_name="validations")
    op.drop_table("validations")
    op.drop_table("datasets")
