"""The monitoring policy (`policies/monitoring.yaml`): which alerts may retrain which model, and when.

Unknown keys are rejected: a misspelt `cooldown_hours` must not fall back to its default silently. Every
model named must exist under `models/`, so a policy for a renamed model fails at start-up, not at 3 a.m.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cxops.config import Settings
from cxops.monitoring.errors import MonitoringInvalidError
from cxops.specs import list_specs

__all__ = [
    "DataSource",
    "ModelMonitoringPolicy",
    "MonitoringPolicy",
    "PerformanceLimit",
    "load_monitoring_policy",
]

POLICY_FILE = Path("policies") / "monitoring.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSource(_Strict):
    """Where a retraining finds fresh data: a raw file, or (empty path) the model's seeded generator."""

    path: str = ""
    rows: int = Field(5000, ge=100)


class PerformanceLimit(_Strict):
    """The realised metric a production version must keep on its late labels."""

    metric: Literal["accuracy", "roc_auc", "brier"]
    min: float | None = None
    max: float | None = None
    min_outcomes: int = Field(200, ge=10)
    """Labelled predictions needed before the check may alert."""
    days: int = Field(30, ge=1)
    """How far back the predictions judged go."""

    @model_validator(mode="after")
    def _one_bound(self) -> PerformanceLimit:
        if (self.min is None) == (self.max is None):
            raise ValueError(f"performance '{self.metric}' needs exactly one of 'min' or 'max'")
        if self.metric == "brier" and self.max is None:
            raise ValueError("a Brier score is a loss: bound it with 'max', not 'min'")
        return self

    def breached(self, value: float) -> bool:
        return value < self.min if self.min is not None else value > (self.max or 0.0)

    def describe(self) -> str:
        return f"{self.metric} ≥ {self.min}" if self.min is not None else f"{self.metric} ≤ {self.max}"


class ModelMonitoringPolicy(_Strict):
    retrain: bool = False
    min_drifted_features: int = Field(1, ge=1)
    consecutive_windows: int = Field(1, ge=1, le=100)
    cooldown_hours: float = Field(24, ge=0)
    data: DataSource = DataSource()
    performance: PerformanceLimit | None = None


class _Overrides(_Strict):
    """A model's entries: whatever it leaves out comes from `defaults`."""

    retrain: bool | None = None
    min_drifted_features: int | None = Field(None, ge=1)
    consecutive_windows: int | None = Field(None, ge=1, le=100)
    cooldown_hours: float | None = Field(None, ge=0)
    data: DataSource | None = None
    performance: PerformanceLimit | None = None


class _PolicyFile(_Strict):
    version: str
    defaults: ModelMonitoringPolicy = ModelMonitoringPolicy()
    models: dict[str, _Overrides] = {}


class MonitoringPolicy:
    """The validated policy, resolved per model (`defaults` overridden by the model's entries)."""

    def __init__(
        self, version: str, defaults: ModelMonitoringPolicy, models: dict[str, ModelMonitoringPolicy]
    ):
        self.version = version
        self.defaults = defaults
        self.models = models

    def for_model(self, model: str) -> ModelMonitoringPolicy:
        return self.models.get(model, self.defaults)


def load_monitoring_policy(settings: Settings, path: Path | None = None) -> MonitoringPolicy:
    """`policies/monitoring.yaml` (or `path`), validated against the models that exist."""
    path = path or settings.root / POLICY_FILE
    if not path.is_file():
        raise MonitoringInvalidError(f"monitoring policy {path} is missing; restore policies/monitoring.yaml")
    try:
        raw = _PolicyFile.model_validate(yaml.safe_load(path.read_text()) or {})
    except yaml.YAMLError as error:
        raise MonitoringInvalidError(f"monitoring policy {path} is not valid YAML: {error}") from error
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise MonitoringInvalidError(f"monitoring policy {path} is invalid: {problems}") from error
    known = list_specs(settings)
    unknown = sorted(set(raw.models) - set(known))
    if unknown:
        raise MonitoringInvalidError(
            f"monitoring policy {path} names models {unknown} that have no folder under models/; "
            f"known models: {', '.join(known)}"
        )
    models = {name: _resolve(raw.defaults, overrides) for name, overrides in raw.models.items()}
    return MonitoringPolicy(raw.version, raw.defaults, models)


def _resolve(defaults: ModelMonitoringPolicy, overrides: _Overrides) -> ModelMonitoringPolicy:
    """`defaults` under the model's entries; a partial `data` entry keeps the defaults' other field."""
    values = defaults.model_dump() | overrides.model_dump(exclude_none=True)
    if overrides.data is not None:
        values["data"] = defaults.data.model_dump() | overrides.data.model_dump(exclude_unset=True)
    return ModelMonitoringPolicy.model_validate(values)
