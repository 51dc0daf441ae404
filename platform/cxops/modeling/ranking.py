"""A learning-to-rank model (XGBoost LambdaMART) that scores (customer, offer) pairs.

The artifact is a directory with `model.ubj` (the booster) and `model.json` (`"kind": "ranker"`, inputs,
the item key, the popularity ranking of the training data and provenance). Scores order one customer's
offers; they are not probabilities and are not comparable across customers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from cxops.errors import NotFoundError
from cxops.modeling.tabular import model_matrix
from cxops.specs import Column, ModelSpec

__all__ = ["OfferRanker", "is_ranker_artifact"]

_BOOSTER_FILE = "model.ubj"
_META_FILE = "model.json"
_KIND = "ranker"


def is_ranker_artifact(directory: Path) -> bool:
    meta = Path(directory) / _META_FILE
    try:
        return json.loads(meta.read_text()).get("kind") == _KIND
    except (OSError, ValueError):
        return False


@dataclass
class OfferRanker:
    booster: xgb.Booster
    inputs: list[Column]
    model_name: str
    item_key: str
    popularity: list[str]
    """Offer ids by acceptances in the training data, most accepted first: the non-personalised ranking
    given to customers who objected to profiling."""
    metadata: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None  # a ranker has no decision threshold; kept for the classifier interface

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, booster: xgb.Booster, popularity: list[str], **metadata: Any
    ) -> OfferRanker:
        assert spec.recommendation is not None
        return cls(
            booster=booster,
            inputs=list(spec.features.inputs),
            model_name=spec.name,
            item_key=spec.recommendation.item_key,
            popularity=list(popularity),
            metadata=metadata,
        )

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def score(self, pairs: pd.DataFrame) -> np.ndarray:
        """Ranking score of each (customer, offer) row of `pairs` (which holds the model inputs)."""
        if len(pairs) == 0:
            return np.zeros(0)
        return self.booster.inplace_predict(model_matrix(pairs, self.inputs))

    def save(self, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(directory / _BOOSTER_FILE)
        meta = {
            "kind": _KIND,
            "model_name": self.model_name,
            "item_key": self.item_key,
            "popularity": self.popularity,
            "inputs": [c.model_dump(exclude_defaults=True) for c in self.inputs],
            "metadata": self.metadata,
        }
        (directory / _META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: Path) -> OfferRanker:
        directory = Path(directory)
        if not is_ranker_artifact(directory) or not (directory / _BOOSTER_FILE).is_file():
            raise NotFoundError(
                f"no trained ranker in {directory} (expected {_BOOSTER_FILE} and {_META_FILE})"
            )
        meta = json.loads((directory / _META_FILE).read_text())
        booster = xgb.Booster()
        booster.load_model(directory / _BOOSTER_FILE)
        booster.set_param({"nthread": 1})  # one request at a time per worker: no thread-pool contention
        return cls(
            booster=booster,
            inputs=[Column(**c) for c in meta["inputs"]],
            model_name=meta["model_name"],
            item_key=meta["item_key"],
            popularity=list(meta["popularity"]),
            metadata=meta.get("metadata", {}),
        )
