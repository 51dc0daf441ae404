"""Monitoring: alerts from the drift monitor and the performance checks, the retraining runs they start,
and late outcomes joined to logged predictions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "retrain_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_by", sa.String(256), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retrain_runs"),
        sa.CheckConstraint(
            "status IN ('starting', 'running', 'succeeded', 'failed')", name="ck_retrain_runs_status"
        ),
        sa.ForeignKeyConstraint(
            ["model", "version"],
            ["model_versions.model", "model_versions.version"],
            name="fk_retrain_runs_model_version_model_versions",
        ),
    )
    op.create_index("ix_retrain_runs_model", "retrain_runs", ["model", "started_at"])
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("source_id", sa.String(128), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("action_reason", sa.Text(), nullable=False),
        sa.Column("retrain_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_alerts"),
        sa.CheckConstraint(
            "kind IN ('drift', 'data_quality', 'performance')", name="ck_monitoring_alerts_kind"
        ),
        sa.UniqueConstraint("source", "source_id", name="uq_monitoring_alerts_source_source_id"),
        sa.ForeignKeyConstraint(
            ["retrain_run_id"], ["retrain_runs.id"], name="fk_monitoring_alerts_retrain_run_id_retrain_runs"
        ),
    )
    op.create_index("ix_monitoring_alerts_model", "monitoring_alerts", ["model", "created_at"])
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("prediction_id", sa.String(128), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("predicted", sa.String(256), nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(256), nullable=False),
        sa.Column("predicted_at", TIMESTAMP, nullable=False),
        sa.Column("observed_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_by", sa.String(256), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outcomes"),
        sa.UniqueConstraint("model", "prediction_id", "row", name="uq_outcomes_model_prediction_id_row"),
        sa.ForeignKeyConstraint(
            ["model", "version"],
            ["model_versions.model", "model_versions.version"],
            name="fk_outcomes_model_version_model_versions",
        ),
    )
    op.create_index("ix_outcomes_model_version", "outcomes", ["model", "version", "predicted_at"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_model_version", table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index("ix_monitoring_alerts_model", table_name="monitoring_alerts")
    op.drop_table("monitoring_alerts")
    op.drop_index("ix_retrain_runs_model", table_name="retrain_runs")
    op.drop_table("retrain_runs")
