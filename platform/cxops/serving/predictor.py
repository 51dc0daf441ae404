"""Online prediction for one model version: validated feature rows, or customer ids looked up online.

Every serving route (BentoML JSON API, KServe V1, Open Inference Protocol V2) goes through
`ModelPredictor`, so they all validate, score and label a request the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cxops.config import Settings
from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError
from cxops.modeling import Classifier, TabularClassifier, load_classifier
from cxops.serving._validation import InputValidationError, validate_columns, validate_rows
from cxops.serving.feature_source import (
    FeatureSourceUnavailableError,
    OnlineFeatureSource,
    feast_feature_source,
)
from cxops.specs import ModelSpec
from cxops.telemetry.serving import ServingTelemetry

if TYPE_CHECKING:
    from cxops.telemetry import Telemetry

__all__ = ["InputValidationError", "ModelPredictor", "Prediction", "keyed_pseudonymiser"]


_INLINE_ROWS = 16


@dataclass(frozen=True)
class Prediction:
    probability: float
    label: str
    threshold: float | None
    model_name: str
    model_version: str
    customer_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.customer_id is None:
            del out["customer_id"]
        return out


def keyed_pseudonymiser(key: bytes | Callable[[], bytes]) -> Callable[[str], str]:
    """The platform's keyed pseudonym function, bound to `key` (or to a key loaded on first use)."""
    resolved: list[bytes] = []

    def pseudonymise_id(value: str) -> str:
        try:
            from cxops.privacy.pseudonymise import pseudonymise
        except ImportError as exc:
            raise FeatureSourceUnavailableError(
                f"customer pseudonymisation is unavailable ({exc}); send full feature rows instead"
            ) from exc
        if not resolved:
            resolved.append(key() if callable(key) else key)
        return pseudonymise(value, resolved[0])

    return pseudonymise_id


class ModelPredictor:
    """A trained classifier with its spec: validates requests and returns labelled probabilities."""

    def __init__(
        self,
        spec: ModelSpec,
        classifier: Classifier,
        *,
        model_version: str | None = None,
        features: OnlineFeatureSource | None = None,
        pseudonymise: Callable[[str], str] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        if classifier.feature_names != spec.input_names:
            raise ConflictError(
                f"model '{spec.name}': the trained classifier reads {classifier.feature_names} but the spec "
                f"declares inputs {spec.input_names}; serve the classifier with the spec it was trained "
                "on"
            )
        self.spec = spec
        self.classifier = classifier
        self.model_version = str(
            model_version
            if model_version is not None
            else classifier.metadata.get("registry_version", "unregistered")
        )
        self.features = features
        self.pseudonymise = pseudonymise
        self.tracing = ServingTelemetry.of(telemetry)
        """Spans of the feature lookup and the model call; metrics (default: the global providers)."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def max_batch_size(self) -> int:
        return self.spec.serving.max_batch_size

    def scores_inline(self, rows: int) -> bool:
        """Whether feature rows are cheaper to score on the event loop than in a worker thread: a tabular
        model scores a few rows in well under a millisecond, less than the hop to a thread costs. Text
        models (an encoder pass) and customer lookups (I/O) always go to a thread."""
        return rows <= _INLINE_ROWS and isinstance(self.classifier, TabularClassifier)

    def check_batch(self, size: int, what: str = "rows") -> None:
        """Reject empty batches (422) and batches over `serving.max_batch_size` (413)."""
        if size == 0:
            raise InvalidInputError(f"model '{self.name}': the request holds no {what}; send at least one")
        if size > self.max_batch_size:
            raise InvalidInputError(
                f"model '{self.name}': a batch of {size} {what} exceeds the limit of {self.max_batch_size} "
                f"(serving.max_batch_size in models/{self.name}/spec.yaml); split the request",
                status_code=413,
            )

    def validate(self, rows: Sequence[Any]) -> pd.DataFrame:
        self.check_batch(len(rows))
        return validate_rows(rows, self.classifier.inputs, self.name)

    def predict_frame(
        self, frame: pd.DataFrame, customer_ids: Sequence[str] | None = None
    ) -> list[Prediction]:
        """Score rows that are already valid model inputs (one column per input)."""
        return self._predict(frame, len(frame), customer_ids)

    def _predict(
        self,
        inputs: pd.DataFrame | dict[str, list[Any]],
        rows: int,
        customer_ids: Sequence[str] | None = None,
    ) -> list[Prediction]:
        with self.tracing.model_call(self.name, self.model_version, rows):
            proba = self.classifier.predict_proba(inputs)
            labels = self.classifier.labels(proba)
        if proba.ndim == 2:  # multi-class: the confidence is the predicted label's probability
            proba = proba.max(axis=1)
        ids = list(customer_ids) if customer_ids is not None else [None] * len(proba)
        return [
            Prediction(
                probability=float(p),
                label=str(lab),
                threshold=self.classifier.threshold,
                model_name=self.name,
                model_version=self.model_version,
                customer_id=cid,
            )
            for p, lab, cid in zip(proba, labels, ids, strict=True)
        ]

    def predict_rows(self, rows: Sequence[Any]) -> list[Prediction]:
        """Full feature vectors (one mapping per row) -> one prediction per row, in order."""
        self.tracing.request_rows(len(rows))
        if not isinstance(self.classifier, TabularClassifier):
            return self.predict_frame(self.validate(rows))
        # A tabular model reads the validated columns as they are: a DataFrame of one request's few rows
        # costs more than scoring them.
        self.check_batch(len(rows))
        return self._predict(validate_columns(rows, self.classifier.inputs, self.name), len(rows))

    def predict_customers(self, customer_ids: Sequence[Any]) -> list[Prediction]:
        """Customer ids -> the customers' online features -> one prediction per id, in order."""
        self.tracing.request_rows(len(customer_ids))
        if self.spec.text is not None:
            raise InvalidInputError(
                f"model '{self.name}' scores messages, not customers; send "
                f'{{"{self.spec.text.column}": "<message>"}} rows instead'
            )
        self.check_batch(len(customer_ids), "customer ids")
        bad = [i for i, cid in enumerate(customer_ids) if not isinstance(cid, str) or not cid.strip()]
        if bad:
            raise InvalidInputError(
                f"model '{self.name}': customer ids must be non-empty strings; entries {bad[:20]} are not"
            )
        if self.features is None or self.pseudonymise is None:
            raise FeatureSourceUnavailableError(
                f"model '{self.name}' is served without an online feature store, so it cannot look customers "
                "up by id; send full feature rows instead"
            )
        pids = [self.pseudonymise(cid) for cid in customer_ids]
        frame, unknown = self.tracing.online_features(self.features, self.spec, pids)
        if unknown:
            unknown_set = set(unknown)
            missing = list(
                dict.fromkeys(cid for cid, pid in zip(customer_ids, pids, strict=True) if pid in unknown_set)
            )
            raise NotFoundError(
                f"model '{self.name}': no features for customer(s) {missing} in the online store; check the "
                "id, or materialize the customer's features first"
            )
        names = self.spec.features.names
        absent = [n for n in names if n not in frame.columns]
        if len(frame) != len(pids) or absent:
            raise CXOpsError(
                f"model '{self.name}': the online store returned {len(frame)} rows for "
                f"{len(pids)} customers, lacking inputs {absent}; check the feature service's "
                "definition"
            )
        return self.predict_frame(frame, customer_ids)  # the model reads its inputs by name

    @classmethod
    def from_registry(
        cls,
        model: str,
        settings: Settings,
        *,
        version: int | None = None,
        features: OnlineFeatureSource | None = None,
    ) -> ModelPredictor:
        """A registered version (default: the latest) with the checkout's spec and the Feast online store."""
        from cxops.registry import Registry
        from cxops.specs import load_spec

        spec = load_spec(model, settings)
        with Registry.from_settings(settings) as registry:
            record = registry.get_version(model, version)
        if "model" not in record.artifacts:
            raise NotFoundError(
                f"model '{model}' version {record.version} has no 'model' artifact; "
                "register the trained classifier first"
            )
        classifier = load_classifier(Path(record.artifacts["model"]))
        return cls(
            spec,
            classifier,
            model_version=str(record.version),
            features=features if features is not None else feast_feature_source(settings),
            pseudonymise=keyed_pseudonymiser(settings.pseudonym_key_bytes),
        )
