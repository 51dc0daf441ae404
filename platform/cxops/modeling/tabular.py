"""A tabular binary classifier (XGBoost booster) with its input encoding and decision threshold.

The artifact is a directory with `model.ubj` (the booster) and `model.json` (inputs, categories,
threshold, provenance). Training, evaluation, batch scoring and serving all load it through this class,
so every path encodes inputs the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from cxops.errors import InvalidInputError, NotFoundError
from cxops.specs import Column, ModelSpec

__all__ = ["TabularClassifier", "encode_inputs"]

_BOOSTER_FILE = "model.ubj"
_META_FILE = "model.json"


def encode_inputs(frame: pd.DataFrame, inputs: list[Column]) -> pd.DataFrame:
    """Spec-ordered model inputs: categories as fixed pandas categoricals, numbers as float.

    An unknown category becomes missing (the trees route it like an absent value) rather than a new
    code, so the encoding never depends on which values a batch happens to contain.
    """
    missing = [c.name for c in inputs if c.name not in frame.columns]
    if missing:
        raise InvalidInputError(f"model inputs missing: {missing}")
    out = {}
    for col in inputs:
        values = frame[col.name]
        if col.type == "category":
            out[col.name] = pd.Categorical(
                values.astype(object)
                .where(values.notna(), None)
                .map(lambda v: None if v is None else str(v)),
                categories=col.categories,
            )
        else:
            out[col.name] = pd.to_numeric(values, errors="coerce").astype(float)
    return pd.DataFrame(out, index=frame.index)


@dataclass
class TabularClassifier:
    booster: xgb.Booster
    inputs: list[Column]
    threshold: float
    model_name: str
    positive_label: str
    negative_label: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, booster: xgb.Booster, threshold: float, **metadata: Any
    ) -> TabularClassifier:
        negative = next(
            c for c in spec.data.column(spec.data.label).categories or [] if c != spec.data.positive_label
        )
        return cls(
            booster=booster,
            inputs=list(spec.features.inputs),
            threshold=float(threshold),
            model_name=spec.name,
            positive_label=spec.data.positive_label,
            negative_label=negative,
            metadata=metadata,
        )

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return encode_inputs(frame, self.inputs)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class for each row of `frame` (which holds the model inputs)."""
        if len(frame) == 0:
            return np.zeros(0)
        matrix = xgb.DMatrix(self.encode(frame), enable_categorical=True)
        return self.booster.predict(matrix)

    def labels(self, proba: np.ndarray) -> np.ndarray:
        return np.where(proba >= self.threshold, self.positive_label, self.negative_label)

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(directory / _BOOSTER_FILE)
        meta = {
            "model_name": self.model_name,
            "threshold": self.threshold,
            "positive_label": self.positive_label,
            "negative_label": self.negative_label,
            "inputs": [c.model_dump(exclude_defaults=True) for c in self.inputs],
            "metadata": self.metadata,
        }
        (directory / _META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> TabularClassifier:
        directory = Path(directory)
        if not (directory / _META_FILE).is_file() or not (directory / _BOOSTER_FILE).is_file():
            raise NotFoundError(
                f"no trained model in {directory} (expected {_BOOSTER_FILE} and {_META_FILE})"
            )
        meta = json.loads((directory / _META_FILE).read_text())
        booster = xgb.Booster()
        booster.load_model(directory / _BOOSTER_FILE)
        booster.set_param({"nthread": 1})  # one request at a time per worker: no thread-pool contention
        return cls(
            booster=booster,
            inputs=[Column(**c) for c in meta["inputs"]],
            threshold=meta["threshold"],
            model_name=meta["model_name"],
            positive_label=meta["positive_label"],
            negative_label=meta["negative_label"],
            metadata=meta.get("metadata", {}),
        )
