"""Evaluate a trained classifier on held-out rows: metrics, curves, bias by segment, release thresholds."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError
from cxops.evaluation.bias import SegmentReport, segment_report
from cxops.evaluation.metrics import binary_metrics, confusion, lift_table, reliability_bins, roc_points
from cxops.modeling import TabularClassifier
from cxops.specs import ModelSpec

__all__ = ["LOWER_IS_BETTER", "EvaluationReport", "ThresholdCheck", "check_thresholds", "evaluate"]

LOWER_IS_BETTER = frozenset({"brier_score", "log_loss", "expected_calibration_error", "false_positive_rate"})
"""Metrics whose spec threshold is a maximum; every other threshold is a minimum."""


@dataclass(frozen=True)
class ThresholdCheck:
    metric: str
    bound: float
    direction: str
    """"min" (value must be at least `bound`) or "max" (at most)."""
    value: float | None
    passed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "bound": self.bound,
            "direction": self.direction,
            "value": self.value,
            "passed": self.passed,
        }


@dataclass
class EvaluationReport:
    model_name: str
    threshold: float
    metrics: dict[str, float]
    confusion: dict[str, int]
    roc: dict[str, list[float]]
    lift: list[dict[str, float]]
    reliability: list[dict[str, float]]
    segments: dict[str, SegmentReport]
    checks: list[ThresholdCheck]
    evaluated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def passed(self) -> bool:
        """True when every release threshold of the spec is met."""
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[ThresholdCheck]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "model_name": self.model_name,
                "evaluated_at": self.evaluated_at,
                "threshold": self.threshold,
                "passed": self.passed,
                "metrics": self.metrics,
                "confusion": self.confusion,
                "checks": [c.to_dict() for c in self.checks],
                "segments": {name: seg.to_dict() for name, seg in self.segments.items()},
                "lift": self.lift,
                "reliability": self.reliability,
                "roc": self.roc,
            }
        )

    def write_json(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return path


def _json_safe(value: Any) -> Any:
    """NaN/inf -> None and numpy scalars -> Python, so the JSON is strict and readable anywhere."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_thresholds(metrics: dict[str, float], thresholds: dict[str, float]) -> list[ThresholdCheck]:
    """One check per spec threshold; a metric that was not computed (or is NaN) fails its check."""
    checks = []
    for metric, bound in thresholds.items():
        direction = "max" if metric in LOWER_IS_BETTER else "min"
        value = metrics.get(metric)
        if value is None or not math.isfinite(value):
            checks.append(ThresholdCheck(metric, float(bound), direction, None, False))
            continue
        passed = value <= bound if direction == "max" else value >= bound
        checks.append(ThresholdCheck(metric, float(bound), direction, float(value), bool(passed)))
    return checks


def evaluate(
    classifier: TabularClassifier, frame: pd.DataFrame, spec: ModelSpec, *, min_group_rows: int = 30
) -> EvaluationReport:
    """Score `frame` (model inputs, the label and the spec's bias segments) and measure everything.

    Labels are the spec's strings; rows are held out from training (the caller's test split).
    """
    from cxops.training.trainer import labels_to_binary

    label = spec.data.label
    needed = [label, *spec.evaluation.bias_segments]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"model '{spec.name}': evaluation frame lacks columns {missing}; it needs the "
            f"label and the bias segments {spec.evaluation.bias_segments}"
        )
    if len(frame) == 0:
        raise InvalidInputError(f"model '{spec.name}': evaluation frame has no rows")
    y = labels_to_binary(frame[label], spec)
    proba = classifier.predict_proba(frame)
    threshold = classifier.threshold
    metrics = binary_metrics(y, proba, threshold)
    segments = {
        name: segment_report(
            name, frame[name].reset_index(drop=True), y, proba, threshold, min_group_rows=min_group_rows
        )
        for name in spec.evaluation.bias_segments
    }
    return EvaluationReport(
        model_name=spec.name,
        threshold=threshold,
        metrics=metrics,
        confusion=confusion(y, proba >= threshold),
        roc=roc_points(y, proba),
        lift=lift_table(y, proba),
        reliability=reliability_bins(y, proba),
        segments=segments,
        checks=check_thresholds(metrics, spec.evaluation.thresholds),
    )
