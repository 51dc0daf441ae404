"""A tabular binary classifier (XGBoost booster) with its input encoding and decision threshold.

The artifact is a directory with `model.ubj` (the booster) and `model.json` (inputs, categories,
threshold, provenance). Training, evaluation, batch scoring and serving all load it through this class,
so every path encodes inputs the same way.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from cxops.errors import InvalidInputError, NotFoundError
from cxops.specs import Column, ModelSpec

__all__ = ["TabularClassifier", "encode_inputs", "model_matrix"]

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
            # Vectorised str(): a per-value Python call costs seconds on a million-row batch.
            text = values.astype(object)
            out[col.name] = pd.Categorical(
                text.astype(str).where(text.notna(), None), categories=col.categories
            )
        else:
            out[col.name] = pd.to_numeric(values, errors="coerce").astype(float)
    return pd.DataFrame(out, index=frame.index)


_FEW_ROWS = 32
"""Up to this many rows, categories are looked up value by value: pandas' vectorised calls cost more
than the values themselves on a one-customer request."""


@functools.lru_cache(maxsize=512)
def _category_index(categories: tuple[str, ...]) -> tuple[dict[str, int], pd.Index]:
    return {c: i for i, c in enumerate(categories)}, pd.Index(categories)


def _category_codes(values: pd.Series | list[Any], categories: list[str]) -> np.ndarray:
    lookup, index = _category_index(tuple(categories))
    if len(values) <= _FEW_ROWS:
        items = values if isinstance(values, list) else values.tolist()
        return np.array(
            [np.nan if pd.isna(v) else lookup.get(str(v), np.nan) for v in items], dtype=np.float32
        )
    text = pd.Series(values, dtype=object) if isinstance(values, list) else values.astype(object)
    codes = index.get_indexer(text.astype(str)).astype(np.float32)
    codes[(codes < 0) | text.isna().to_numpy()] = np.nan
    return codes


def _numbers(values: pd.Series | list[Any]) -> np.ndarray:
    parsed = pd.to_numeric(values, errors="coerce")
    if isinstance(parsed, pd.Series):
        return parsed.to_numpy(dtype=np.float32, na_value=np.nan)
    return np.asarray(parsed, dtype=np.float32)


def model_matrix(frame: pd.DataFrame | Mapping[str, list[Any]], inputs: list[Column]) -> np.ndarray:
    """The inputs as the trees read them, as one float32 array: a category's position in the spec's list
    (missing or unknown: NaN) and numbers as float. `frame` is a DataFrame, or each input's values.

    XGBoost gives exactly the predictions of `encode_inputs`'s pandas categoricals (the booster keeps
    which features are categorical), without building a DataFrame of categoricals and a DMatrix from it,
    which costs milliseconds on every request.
    """
    missing = [c.name for c in inputs if c.name not in frame]
    if missing:
        raise InvalidInputError(f"model inputs missing: {missing}")
    columns = [frame[c.name] for c in inputs]
    matrix = np.empty((len(columns[0]) if columns else 0, len(inputs)), dtype=np.float32)
    for j, (col, values) in enumerate(zip(inputs, columns, strict=True)):
        if col.type == "category":
            matrix[:, j] = _category_codes(values, col.categories or [])
        else:
            matrix[:, j] = _numbers(values)
    return matrix


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

    def predict_proba(self, frame: pd.DataFrame | Mapping[str, list[Any]]) -> np.ndarray:
        """Probability of the positive class for each row of `frame` (which holds the model inputs; or
        each input's values)."""
        rows = len(frame) if isinstance(frame, pd.DataFrame) else len(next(iter(frame.values()), []))
        if rows == 0:
            return np.zeros(0)
        return self.booster.inplace_predict(model_matrix(frame, self.inputs))

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
