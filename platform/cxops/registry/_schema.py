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
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "Dataset", "JSONType", "ModelVersion", "UTCDateTime", "Validation", "utcnow"]

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
