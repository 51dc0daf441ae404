"""How tabular rows become the matrices the detectors read.

Two encodings, both fitted on the reference rows and stored beside the detector (`encoding.json`):

- codes (TabularDrift, KSDrift): one column per feature; numbers as they are, categories as integer codes
  (their position in the bundle's list; null, where allowed, is one more code);
- one-hot (MMDDrift): numbers standardised with the reference's mean and standard deviation, categories
  one-hot (null, where allowed, is one more column), so that no feature dominates the kernel distance.

A null number (allowed by `nullable`) is replaced by the reference median: a rise in nulls then shows as a
spike at the median, and the quality verdict watches the null fraction itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cxops_drift.spec import Feature, MonitorSpec

__all__ = ["TabularEncoding"]


@dataclass(frozen=True)
class TabularEncoding:
    """The fitted encoding of one bundle's features."""

    features: tuple[Feature, ...]
    medians: dict[str, float]
    means: dict[str, float]
    stds: dict[str, float]

    @classmethod
    def fit(cls, spec: MonitorSpec, reference: list[dict[str, Any]]) -> TabularEncoding:
        medians, means, stds = {}, {}, {}
        for feature in spec.features:
            if not feature.numeric:
                continue
            present = np.array(
                [r[feature.name] for r in reference if r[feature.name] is not None], dtype=float
            )
            median = float(np.median(present)) if present.size else 0.0
            filled = np.array([median if r[feature.name] is None else r[feature.name] for r in reference])
            medians[feature.name] = median
            means[feature.name] = float(filled.mean())
            std = float(filled.std())
            stds[feature.name] = std if std > 0 else 1.0  # a constant reference column stays at 0
        return cls(features=spec.features, medians=medians, means=means, stds=stds)

    @staticmethod
    def _code(feature: Feature, value: Any) -> int:
        return len(feature.categories) if value is None else feature.categories.index(value)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if not f.numeric]

    def codes(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Checked rows as an (n, features) float32 matrix: numbers and category codes."""
        out = np.empty((len(rows), len(self.features)), dtype=np.float32)
        for j, feature in enumerate(self.features):
            name = feature.name
            if feature.numeric:
                median = self.medians[name]
                out[:, j] = [median if r[name] is None else r[name] for r in rows]
            else:
                out[:, j] = [self._code(feature, r[name]) for r in rows]
        return out

    def one_hot(self, rows: list[dict[str, Any]]) -> np.ndarray:
        """Checked rows as standardised numbers and one-hot categories (float32)."""
        codes = self.codes(rows)
        blocks = []
        for j, feature in enumerate(self.features):
            if feature.numeric:
                blocks.append(((codes[:, j] - self.means[feature.name]) / self.stds[feature.name])[:, None])
            else:
                width = len(feature.categories) + (1 if feature.nullable else 0)
                blocks.append(np.eye(width, dtype=np.float32)[codes[:, j].astype(int)])
        return np.hstack(blocks).astype(np.float32)

    def reference_categories(self, codes: np.ndarray) -> dict[int, list[int]]:
        """The codes each categorical column takes in the reference (TabularDrift's categories_per_feature).

        Only codes present in the reference: a chi-squared test fails on a category absent from both
        samples, and codes seen only in a window are added by the detector itself.
        """
        return {j: sorted({int(c) for c in codes[:, j]}) for j in self.categorical_indices}

    def to_dict(self) -> dict[str, Any]:
        return {"medians": self.medians, "means": self.means, "stds": self.stds}

    @classmethod
    def from_dict(cls, spec: MonitorSpec, data: dict[str, Any]) -> TabularEncoding:
        return cls(features=spec.features, medians=data["medians"], means=data["means"], stds=data["stds"])
