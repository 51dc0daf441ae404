"""The model spec: one YAML file per model (`models/<name>/spec.yaml`) that every part of CXOps reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AdaptiveBatching",
    "Column",
    "DataSpec",
    "EvaluationSpec",
    "FeatureSpec",
    "ModelSpec",
    "Owner",
    "PrivacySpec",
    "RecommendationSpec",
    "ResourcesSpec",
    "ScalingSpec",
    "ServingSpec",
    "TextSpec",
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
    type: Literal["string", "text", "integer", "number", "category", "timestamp"]
    categories: list[str] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=1)
    """Bounds on the number of characters (type `text` only)."""
    nullable: bool = False
    unique: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _categories_only_for_category(self) -> Column:
        if (self.type == "category") != (self.categories is not None):
            raise ValueError(
                f"column '{self.name}': 'categories' is required for, and only for, type 'category'"
            )
        if self.type != "text" and (self.min_length is not None or self.max_length is not None):
            raise ValueError(f"column '{self.name}': 'min_length'/'max_length' apply to type 'text' only")
        return self


class DataSpec(_Strict):
    """The raw dataset as it arrives: columns, the entity key, the label."""

    entity_key: str
    """Identifies a row; a file without it gets row numbers (`row-1`, `row-2`, ...)."""
    label: str
    positive_label: str | None = None
    """The positive class of a binary task."""
    timestamp: str = "event_timestamp"
    real_dataset: str | None = None
    """Path of the real training file relative to the project root (used when present)."""
    real_dataset_columns: dict[str, str] = {}
    """Renames from the real file's column names to the spec's (`{category: intent}`)."""
    real_dataset_labels: list[str] | None = None
    """The real dataset's label set, when it is not the label column's categories (Banking77's 77
    intents for the intent model, whose generated data uses the telecom intents)."""
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
    item_entity: str | None = None
    """A second entity a ranking model scores against the customer (the offer), with its join key.
    An input named like the join key is the item's id itself, taken from the request, not from Feast."""
    item_join_key: str | None = None

    @model_validator(mode="after")
    def _item_entity_with_key(self) -> FeatureSpec:
        if (self.item_entity is None) != (self.item_join_key is None):
            raise ValueError("features: 'item_entity' and 'item_join_key' go together")
        return self

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.inputs]

    @property
    def join_keys(self) -> list[str]:
        return [self.join_key] + ([self.item_join_key] if self.item_join_key else [])

    @property
    def served_names(self) -> list[str]:
        """The inputs the feature service serves (every input but the item's own id)."""
        return [n for n in self.names if n not in self.join_keys]


class TextSpec(_Strict):
    """A text model's input: one free-text column, and what a healthy batch of it looks like."""

    column: str = "text"
    languages: list[str] = Field(min_length=1)
    """ISO 639-1 codes of the languages the model is meant for."""
    min_language_fraction: float = Field(0.9, gt=0, le=1)
    """Validation fails when fewer messages than this are in `languages`."""
    max_duplicate_fraction: float = Field(0.05, ge=0, le=1)
    max_pii_fraction: float = Field(0.25, ge=0, le=1)
    """Messages carrying personal data are masked, not dropped; a batch where more than this share
    carries some is more likely a wrong file (a CRM export, say) than support messages."""
    mask_pii: bool = True
    """Mask emails, phone numbers, IBANs and card numbers before training, scoring and logging."""


class RecommendationSpec(_Strict):
    """A ranking model's catalogue and serving rules: the offer policy, the item key, the default cut-off."""

    policy: str = "policies/offers.yaml"
    """Path of the offer policy (catalogue, eligibility, consent, retention) relative to the project root."""
    item_key: str = "offer_id"
    """The raw column naming the offer of each response row."""
    k: int = Field(3, ge=1, le=20)
    """The cut-off of the evaluation's ranking metrics (HR@k, NDCG@k, MAP@k)."""
    churn_model: str = "churn"
    """The model whose score decides who is at risk (retention offers first)."""


# A Kubernetes resource quantity ("500m", "2", "1.5", "512Mi", "2Gi").
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


class ScalingSpec(_Strict):
    num_workers: int = Field(1, ge=0)
    use_gpu: bool = False
    """Ask for GPU workers; honoured only when the Ray cluster has GPUs (CPU otherwise). On Kubernetes
    (`CXOPS_TRAINING_BACKEND=rayjob`) each worker pod of the RayJob requests one GPU."""
    cpus_per_worker: float = Field(1, gt=0)
    memory_per_worker: str = Field("4Gi", pattern=_QUANTITY)
    """Memory of each Ray worker pod of a RayJob (a Kubernetes quantity)."""


class TrainerSpec(_Strict):
    """`xgboost` for tabular models; `xgboost_ranker` for learning to rank (LambdaMART, one query per
    customer); `text_head` for a head on sentence embeddings (frozen encoder on CPU, fine-tuned end to end
    on GPU workers when `fine_tune_encoder` is set)."""

    kind: Literal["xgboost", "xgboost_ranker", "text_head"]
    params: dict[str, float | int | str] = {}
    num_boost_round: int = Field(500, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    validation_fraction: float = Field(0.2, gt=0, lt=0.5)
    threshold_metric: Literal["f1", "f2"] = "f1"
    seed: int = 20261122
    scaling: ScalingSpec = ScalingSpec()
    encoder: str = "all-MiniLM-L6-v2"
    fine_tune_encoder: bool = False
    """Fine-tune the sentence encoder with the head; honoured on GPU workers only (the frozen encoder is
    used on CPU, where fine-tuning would take hours)."""


class EvaluationSpec(_Strict):
    thresholds: dict[str, float]
    """Minimum value of each metric for a version to be fit for release."""
    bias_segments: list[str]
    test_fraction: float = Field(0.2, gt=0, lt=0.5)


class ResourcesSpec(_Strict):
    """What one model-server pod requests and may use (Kubernetes quantities)."""

    cpu: str = Field("500m", pattern=_QUANTITY)
    memory: str = Field("1Gi", pattern=_QUANTITY)
    cpu_limit: str = Field("2", pattern=_QUANTITY)
    memory_limit: str = Field("2Gi", pattern=_QUANTITY)


class AdaptiveBatching(_Strict):
    """How a text model's server merges concurrent `/classify` requests into one encoder batch.

    BentoML's adaptive batching: requests queue briefly while a batch is running and go to the model
    together, so one sentence-encoder pass serves many single-message requests.
    """

    max_batch_size: int = Field(64, ge=2)
    """Most messages in one merged batch (larger requests are split); BentoML needs at least 2."""
    max_latency_ms: int = Field(1000, ge=1, le=60_000)
    """Latency budget of a request in the batching queue: BentoML answers 503 to requests it expects to
    exceed it (queueing plus the estimated batch time). It sheds load, it is not a wait window: a few
    milliseconds would refuse requests whenever one encoder pass takes longer than that."""


class ServingSpec(_Strict):
    max_batch_size: int = Field(1000, ge=1)
    """Most rows one request may hold (413 beyond)."""
    output_score: str = "probability"
    output_label: str = "label"
    resources: ResourcesSpec = ResourcesSpec()
    gpus: int = Field(0, ge=0, le=8)
    """NVIDIA GPUs per model-server pod on Kubernetes (`nvidia.com/gpu`)."""
    min_replicas: int = Field(1, ge=0)
    """0 lets KServe (Serverless) scale an idle model to zero; keep 1 or more where cold starts matter."""
    max_replicas: int = Field(3, ge=1)
    scale_target: int = Field(10, ge=1)
    """Concurrent requests per replica at which KServe adds a replica."""
    timeout_seconds: int = Field(60, ge=1, le=3600)
    """How long a request may take before KServe answers 504."""
    adaptive_batching: AdaptiveBatching | None = None
    """Text models only: serve `POST /classify` with adaptive batching; unset, the route is absent."""

    @model_validator(mode="after")
    def _replicas_in_order(self) -> ServingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"serving.min_replicas ({self.min_replicas}) exceeds "
                f"serving.max_replicas ({self.max_replicas})"
            )
        batching = self.adaptive_batching
        if batching is not None and batching.max_batch_size > self.max_batch_size:
            # A merged batch goes through the same size check as any request.
            raise ValueError(
                f"serving.adaptive_batching.max_batch_size ({batching.max_batch_size}) exceeds "
                f"serving.max_batch_size ({self.max_batch_size}); lower it"
            )
        return self


class DriftQualitySpec(_Strict):
    """When a window is a data-quality failure (an upstream bug: page data engineering, do not retrain)."""

    max_invalid_fraction: float = Field(0.05, ge=0, le=1)
    """Share of rows breaking the serving schema (missing, out of range, unknown category, wrong type)."""
    max_null_fraction: float = Field(0.2, ge=0, le=1)
    """Share of nulls in one feature, nullable or not: a burst of nulls is a broken upstream join."""


class MonitoringSpec(_Strict):
    """How the drift monitor watches the model's requests (`cxops_drift`, Alibi Detect)."""

    detector: Literal["tabular", "mmd", "ks", "none"] = "tabular"
    """`tabular`: Alibi Detect's TabularDrift (KS for numeric, chi-squared for categorical features);
    `mmd`: maximum mean discrepancy (on text: over the encoder's embeddings); `ks`: per-dimension KS
    (on text: over the embeddings reduced by PCA); `none`: requests carry no inputs to watch."""
    features: list[str] = []
    """The inputs watched; default every input of the model."""
    p_value: float = Field(0.05, gt=0, lt=0.5)
    """Family-wise significance per window (Bonferroni over the features for univariate tests)."""
    window_size: int = Field(300, ge=20, le=100_000)
    """Rows per tested window."""
    min_window: int = Field(100, ge=10)
    """The smallest partial window a scheduled check tests."""
    reference_rows: int = Field(1000, ge=50, le=100_000)
    """Training rows kept as the version's drift reference."""
    components: int = Field(16, ge=2, le=384)
    """Text models: dimensions the embeddings are reduced to before the test."""
    quality: DriftQualitySpec = DriftQualitySpec()


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
    task: Literal["binary_classification", "text_classification", "recommendation"]
    data: DataSpec
    features: FeatureSpec | None = None
    """Feast features of a tabular model."""
    text: TextSpec | None = None
    """The text input of a text model."""
    recommendation: RecommendationSpec | None = None
    """The catalogue and rules of a recommendation model."""
    trainer: TrainerSpec
    evaluation: EvaluationSpec
    serving: ServingSpec = ServingSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
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
        label = self.data.column(self.data.label)
        if (self.task == "recommendation") != (self.recommendation is not None):
            raise ValueError(
                f"model '{self.name}': a 'recommendation' section goes with, and only with, "
                "task 'recommendation'"
            )
        if self.task == "recommendation":
            features = self.features
            if features is None or features.item_join_key is None or self.trainer.kind != "xgboost_ranker":
                raise ValueError(
                    f"model '{self.name}': a recommendation model needs 'features' with an item entity "
                    "and trainer kind 'xgboost_ranker'"
                )
            if self.recommendation.item_key not in raw:
                raise ValueError(
                    f"model '{self.name}': item key '{self.recommendation.item_key}' is not a raw column"
                )
            if len(label.categories or []) != 2 or self.data.positive_label not in (label.categories or []):
                raise ValueError(
                    f"model '{self.name}': the response label '{label.name}' needs two categories, one "
                    f"of them positive_label ({self.data.positive_label!r})"
                )
        elif self.task == "binary_classification":
            if self.features is None or self.text is not None or self.trainer.kind != "xgboost":
                raise ValueError(
                    f"model '{self.name}': a binary_classification model needs 'features' (no 'text') "
                    "and trainer kind 'xgboost'"
                )
            if len(label.categories or []) != 2 or self.data.positive_label not in (label.categories or []):
                raise ValueError(
                    f"model '{self.name}': the label '{label.name}' needs two categories, one of them "
                    f"positive_label ({self.data.positive_label!r})"
                )
        else:
            if self.text is None or self.features is not None or self.trainer.kind != "text_head":
                raise ValueError(
                    f"model '{self.name}': a text_classification model needs 'text' (no 'features') "
                    "and trainer kind 'text_head'"
                )
            if self.text.column not in raw or self.data.column(self.text.column).type != "text":
                raise ValueError(
                    f"model '{self.name}': text column '{self.text.column}' must be a raw column "
                    "of type 'text'"
                )
            if len(label.categories or []) < 2:
                raise ValueError(
                    f"model '{self.name}': the label '{label.name}' needs at least two categories"
                )
        unknown = sorted(set(self.monitoring.features) - {c.name for c in self.inputs})
        if unknown:
            raise ValueError(
                f"model '{self.name}': monitoring.features {unknown} are not model inputs; "
                f"choose among {self.input_names}"
            )
        if self.monitoring.min_window > self.monitoring.window_size:
            raise ValueError(f"model '{self.name}': monitoring.min_window exceeds monitoring.window_size")
        if self.text is None and self.serving.adaptive_batching is not None:
            raise ValueError(
                f"model '{self.name}': serving.adaptive_batching applies to text models only (it batches "
                "their /classify route); remove it from this spec"
            )
        if self.text is not None and self.monitoring.detector == "tabular":
            raise ValueError(
                f"model '{self.name}': a text model's drift detector is 'mmd' or 'ks' over embeddings, "
                "not 'tabular'"
            )
        return self

    @property
    def inputs(self) -> list[Column]:
        """What a request to the model carries: the Feast feature inputs, or the one text column."""
        if self.features is not None:
            return list(self.features.inputs)
        assert self.text is not None
        return [self.data.column(self.text.column)]

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    @property
    def label_categories(self) -> list[str]:
        return list(self.data.column(self.data.label).categories or [])
