"""ORM models of the metadata store. The schema itself is owned by the Alembic migrations in `migrations/`;
these classes must describe the same tables (a test compares them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiToken",
    "Approval",
    "AuditEvent",
    "Base",
    "Canary",
    "Dataset",
    "JSONType",
    "ModelVersion",
    "MonitoringAlert",
    "Outcome",
    "RetrainRun",
    "RetrainingFlag",
    "StageTransition",
    "UTCDateTime",
    "Validation",
    "utcnow",
]

# JSONB on PostgreSQL (indexable, compact); SQLAlchemy's generic JSON (text) elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

# Stable constraint names so that later migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out. SQLite keeps no offset, so naive values read back are UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing naive datetime {value!r}: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONType, datetime: UTCDateTime}


class Dataset(Base):
    """A content-addressed dataset snapshot that a model was validated or trained on."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("model", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(128))
    uri: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Validation(Base):
    """One run of an expectation suite against a dataset."""

    __tablename__ = "validations"
    __table_args__ = (
        ForeignKeyConstraint(["model", "dataset_version"], ["datasets.model", "datasets.version"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    dataset_version: Mapped[str] = mapped_column(String(128))
    suite: Mapped[str] = mapped_column(String(256))
    success: Mapped[bool] = mapped_column(Boolean)
    statistics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_uri: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    """A registered model version: numbered 1, 2, 3… per model, with its metrics, artifacts and lineage."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model", "version"),
        CheckConstraint("stage IN ('candidate', 'staging', 'production', 'archived')", name="stage"),
        CheckConstraint("version > 0", name="version_positive"),
        ForeignKeyConstraint(["model", "dataset_version"], ["datasets.model", "datasets.version"]),
        Index(
            "uq_model_versions_one_production",
            "model",
            unique=True,
            sqlite_where=text("stage = 'production'"),
            postgresql_where=text("stage = 'production'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16), default="candidate")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifacts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner: Mapped[str] = mapped_column(String(256))
    team: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dataset_version: Mapped[str | None] = mapped_column(String(128))
    bento_tag: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")


_VERSION_FK = (["model", "version"], ["model_versions.model", "model_versions.version"])


class StageTransition(Base):
    """One change of a version's stage: who, why, the gates as evaluated, the approvals it used."""

    __tablename__ = "stage_transitions"
    __table_args__ = (ForeignKeyConstraint(*_VERSION_FK),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    from_stage: Mapped[str] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    gates: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    approvals: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    override: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Approval(Base):
    """A sign-off for moving a version to a stage; valid until it expires or a transition uses it."""

    __tablename__ = "approvals"
    __table_args__ = (
        ForeignKeyConstraint(*_VERSION_FK),
        ForeignKeyConstraint(["used_by"], ["stage_transitions.id"]),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[int] = mapped_column(Integer)
    target_stage: Mapped[str] = mapped_column(String(16))
    approver: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_by: Mapped[int | None] = mapped_column(Integer)


class AuditEvent(Base):
    """One entry of the append-only audit log; `hash` covers the entry and the previous entry's hash."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("prev_hash"), UniqueConstraint("hash"))

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128), index=True)
    version: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    """A bearer token of the platform API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(256))
    token_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class RetrainingFlag(Base):
    """A version trained on data that has since been erased: retrain (and retire it) by `due_by`."""

    __tablename__ = "retraining_flags"
    __table_args__ = (ForeignKeyConstraint(*_VERSION_FK),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    due_by: Mapped[datetime] = mapped_column()
    audit_seq: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()


class Canary(Base):
    """A canary release of a candidate version against the production version (see `cxops.canary.service`)."""

    __tablename__ = "canaries"
    __table_args__ = (
        CheckConstraint("mode IN ('split', 'shadow')", name="mode"),
        CheckConstraint("status IN ('running', 'paused', 'promoted', 'rolled_back')", name="status"),
        CheckConstraint("percent >= 0 AND percent <= 100", name="percent"),
        ForeignKeyConstraint(
            ["model", "candidate_version"], ["model_versions.model", "model_versions.version"]
        ),
        ForeignKeyConstraint(["model", "stable_version"], ["model_versions.model", "model_versions.version"]),
        Index(
            "uq_canaries_one_active",
            "model",
            unique=True,
            sqlite_where=text("status IN ('running', 'paused')"),
            postgresql_where=text("status IN ('running', 'paused')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    candidate_version: Mapped[int] = mapped_column(Integer)
    stable_version: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    percent: Mapped[float] = mapped_column(Float)
    steps: Mapped[list[float]] = mapped_column(JSONType)
    step: Mapped[int] = mapped_column(Integer, default=0)
    interval_s: Mapped[int] = mapped_column(Integer)
    auto: Mapped[bool] = mapped_column(Boolean, default=False)
    started_by: Mapped[str] = mapped_column(String(256))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    outcome: Mapped[str] = mapped_column(Text, default="")


class RetrainRun(Base):
    """A run of the training pipeline started by the monitoring loop (or by hand), and what it registered."""

    __tablename__ = "retrain_runs"
    __table_args__ = (
        CheckConstraint("status IN ('starting', 'running', 'succeeded', 'failed')", name="status"),
        ForeignKeyConstraint(*_VERSION_FK),
        Index("ix_retrain_runs_model", "model", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    trigger: Mapped[str] = mapped_column(Text)
    backend: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="")
    started_by: Mapped[str] = mapped_column(String(256))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class MonitoringAlert(Base):
    """A drift, data-quality or performance alert, and what the monitoring policy did about it."""

    __tablename__ = "monitoring_alerts"
    __table_args__ = (
        CheckConstraint("kind IN ('drift', 'data_quality', 'performance')", name="kind"),
        UniqueConstraint("source", "source_id"),
        ForeignKeyConstraint(["retrain_run_id"], ["retrain_runs.id"]),
        Index("ix_monitoring_alerts_model", "model", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(128))
    """The alert's id at its source (a drift result's id), so that a resent alert is recorded once."""
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    action: Mapped[str] = mapped_column(String(32))
    action_reason: Mapped[str] = mapped_column(Text, default="")
    retrain_run_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Outcome(Base):
    """A late label joined to the logged prediction it judges (by the request id the gateway logged)."""

    __tablename__ = "outcomes"
    __table_args__ = (
        UniqueConstraint("model", "prediction_id", "row"),
        ForeignKeyConstraint(*_VERSION_FK),
        Index("ix_outcomes_model_version", "model", "version", "predicted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(128))
    prediction_id: Mapped[str] = mapped_column(String(128))
    row: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer)
    predicted: Mapped[str] = mapped_column(String(256))
    probability: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(256))
    predicted_at: Mapped[datetime] = mapped_column()
    observed_at: Mapped[datetime] = mapped_column()
    recorded_by: Mapped[str] = mapped_column(String(256))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
