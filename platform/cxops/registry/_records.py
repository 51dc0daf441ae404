"""Plain, immutable values returned by the registry (never ORM objects bound to a session)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["DatasetRecord", "ModelSummary", "ModelVersionRecord", "Stage", "ValidationRecord"]


class Stage(StrEnum):
    """Life-cycle stage of a model version; every version starts as a candidate."""

    CANDIDATE = "candidate"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class DatasetRecord:
    model: str
    version: str
    """Content hash of the snapshot."""
    uri: str
    rows: int
    source: str
    created_at: datetime


@dataclass(frozen=True)
class ValidationRecord:
    id: int
    model: str
    dataset_version: str
    suite: str
    success: bool
    statistics: dict[str, Any]
    report_uri: str | None
    created_at: datetime


@dataclass(frozen=True)
class ModelVersionRecord:
    model: str
    version: int
    stage: Stage
    metrics: dict[str, Any]
    artifacts: dict[str, str]
    """Artifact name -> URI."""
    params: dict[str, Any]
    lineage: dict[str, Any]
    """Dataset version, validation id, feature service and views, code commit, Ray config, trainer."""
    owner: str
    team: str
    created_by: str
    created_at: datetime
    dataset_version: str | None
    bento_tag: str | None
    description: str

    @property
    def ref(self) -> str:
        """`churn:3` — how the CLI and logs name a version."""
        return f"{self.model}:{self.version}"


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest_version: int
    versions: int
    """Number of registered versions."""
    stages: dict[Stage, int]
    """How many versions are in each stage (stages with none are left out)."""
    latest_created_at: datetime
