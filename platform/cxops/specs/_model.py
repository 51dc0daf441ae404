"""The model spec: one YAML file per model (`models/<name>/spec.yaml`) that every part of CXOps reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Column",
    "DataSpec",
    "EvaluationSpec",
    "FeatureSpec",
    "ModelSpec",
    "Owner",
    "PrivacySpec",
    "ScalingSpec",
    "ServingSpec",
    "TrainerSpec",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Owner(_Strict):
    name: str
    email: str


class Column(_Strict):
    """One column of a schema: its type and what values are allowed."""

    name: str
    type: Literal["string", "integer", "number", "category", "timestamp"]
    categories: list[str] | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    unique: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _categories_only_for_category(self) -> Column:
        if (self.type == "category") != (self.categories is not None):
            raise ValueError(
                f"column '{self.name}': 'categories' is required for, and only for, type 'category'"
            )
        return self


class DataSpec(_Strict):
    """The raw dataset as it arrives: columns, the entity key, the label."""

    entity_key: str
    label: str
    positive_label: str
    timestamp: str = "event_timestamp"
    real_dataset: str | None = None
    """Path of the real training file relative to the project root (used when present)."""
    generator: str
    """Name of the built-in, seeded generator (`cxops.data.generators`)."""
    expectation_suite: str
    min_rows: int = 100
    max_null_fraction: float = 0.01
    columns: list[Column]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


class FeatureSpec(_Strict):
    """The model's inputs as Feast serves them."""

    entity: str
    join_key: str
    feature_service: str
    feature_views: list[str]
    inputs: list[Column]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.inputs]


class ScalingSpec(_Strict):
    num_workers: int = Field(1, ge=0)
    use_gpu: bool = False
    """Ask for GPU workers; honoured only when the Ray cluster has GPUs (CPU otherwise)."""
    cpus_per_worker: float = Field(1, gt=0)


class TrainerSpec(_Strict):
    kind: Literal["xgboost"]
    params: dict[str, float | int | str] = {}
    num_boost_round: int = Field(500, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    validation_fraction: float = Field(0.2, gt=0, lt=0.5)
    threshold_metric: Literal["f1", "f2"] = "f1"
    seed: int = 20261122
    scaling: ScalingSpec = ScalingSpec()


class EvaluationSpec(_Strict):
    thresholds: dict[str, float]
    """Minimum value of each metric for a version to be fit for release."""
    bias_segments: list[str]
    test_fraction: float = Field(0.2, gt=0, lt=0.5)


class ServingSpec(_Strict):
    max_batch_size: int = Field(1000, ge=1)
    output_score: str = "probability"
    output_label: str = "label"


class PrivacySpec(_Strict):
    personal_data_categories: list[str]
    pseudonymised_fields: list[str]
    lawful_basis: str
    dpia: str
    """Path of the DPIA note relative to the project root."""


class ModelSpec(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    description: str
    owner: Owner
    team: str
    purpose: str
    intended_use: str
    out_of_scope_use: str
    task: Literal["binary_classification"]
    data: DataSpec
    features: FeatureSpec
    trainer: TrainerSpec
    evaluation: EvaluationSpec
    serving: ServingSpec = ServingSpec()
    privacy: PrivacySpec

    @model_validator(mode="after")
    def _cross_references(self) -> ModelSpec:
        raw = {c.name for c in self.data.columns}
        for name in (self.data.entity_key, self.data.label, self.data.timestamp):
            if name not in raw:
                raise ValueError(f"model '{self.name}': data column '{name}' is not among data.columns")
        missing = [s for s in self.evaluation.bias_segments if s not in raw]
        if missing:
            raise ValueError(f"model '{self.name}': bias segments {missing} are not raw data columns")
        return self
