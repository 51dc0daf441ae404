"""Evaluate a trained classifier on held-out rows: metrics, curves, bias by segment, release thresholds.

Binary (tabular) models get an `EvaluationReport`; multi-class text models a `TextEvaluationReport`,
which also compares the candidate with a TF-IDF baseline fitted on the same training rows.

Every report also keeps its per-row test predictions (`predictions`; `write_predictions` saves them as
`predictions.parquet`), from which governance computes bias gaps with confidence intervals. They hold
labels, scores and bias-segment values only: never ids, texts or other personal fields.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError
from cxops.evaluation.bias import (
    MIN_TEXT_GROUP_ROWS,
    SegmentReport,
    TextSegmentReport,
    segment_report,
    text_segment_report,
)
from cxops.evaluation.metrics import binary_metrics, confusion, lift_table, reliability_bins, roc_points
from cxops.evaluation.multiclass import SCALAR_METRICS, multiclass_metrics
from cxops.modeling import Classifier, TabularClassifier
from cxops.specs import ModelSpec

__all__ = [
    "LOWER_IS_BETTER",
    "PREDICTIONS_FILE",
    "EvaluationReport",
    "TextEvaluationReport",
    "ThresholdCheck",
    "check_thresholds",
    "evaluate",
]

LOWER_IS_BETTER = frozenset({"brier_score", "log_loss", "expected_calibration_error", "false_positive_rate"})
"""Metrics whose spec threshold is a maximum; every other threshold is a minimum."""

PREDICTIONS_FILE = "predictions.parquet"
"""The per-row test predictions, saved beside `metrics.json` in the evaluation directory."""


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


class _Checked(ABC):
    """What every report says about the spec's release thresholds, and the per-row test predictions."""

    model_name: str
    task: str
    checks: list[ThresholdCheck]
    predictions: pd.DataFrame | None

    @property
    def passed(self) -> bool:
        """True when every release threshold of the spec is met."""
        return all(c.passed for c in self.checks)

    @property
    def failed_checks(self) -> list[ThresholdCheck]:
        return [c for c in self.checks if not c.passed]

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (each report kind says what it holds)."""

    def write_json(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        return path

    def write_predictions(self, out_dir: Path) -> Path:
        """Save `predictions` as `out_dir/predictions.parquet` (one row per test row or query, no index)."""
        if self.predictions is None:
            raise InvalidInputError(
                f"model '{self.model_name}': this {self.task} report holds no per-row predictions; "
                "build it with cxops.evaluation.evaluate or evaluate_ranking"
            )
        path = Path(out_dir) / PREDICTIONS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        self.predictions.to_parquet(path, index=False)
        return path


@dataclass
class EvaluationReport(_Checked):
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
    predictions: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    """One row per test row: `y_true` (0/1), `y_score`, `y_pred` (0/1 at `threshold`) and each bias
    segment as strings."""
    task = "binary_classification"

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


@dataclass
class TextEvaluationReport(_Checked):
    """A multi-class text model on held-out messages, beside the TF-IDF baseline when one was fitted.

    `metrics` is flat (floats, plus the bool `beats_baseline` when a baseline ran): the registry's view.
    `passed` is about the spec's thresholds only; not beating the baseline is carried in
    `beats_baseline` and `warnings`, for the reviewer to weigh.
    """

    model_name: str
    text_column: str
    classes: list[str]
    metrics: dict[str, float | bool]
    per_class: list[dict[str, Any]]
    confusion_matrix: list[list[int]]
    """Rows = true class, columns = predicted, both in `classes` order."""
    top_confusions: list[dict[str, Any]]
    reliability: list[dict[str, float]]
    """Top-label confidence bins: `count`, `mean_confidence`, `accuracy`."""
    segments: dict[str, TextSegmentReport]
    checks: list[ThresholdCheck]
    baseline: dict[str, Any] | None = None
    """The TF-IDF baseline's name, training rows and metrics on the same test rows."""
    unmeasured_segments: dict[str, str] = field(default_factory=dict)
    """Bias segments of the spec that could not be measured, and why."""
    warnings: list[str] = field(default_factory=list)
    evaluated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    predictions: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    """One row per test message: `y_true` and `y_pred` (class names) and each bias segment as strings."""
    task = "text_classification"
    threshold = None
    """The predicted class is the most probable one: no decision threshold."""

    @property
    def beats_baseline(self) -> bool | None:
        """Candidate macro-F1 above the baseline's; None when no baseline was fitted."""
        value = self.metrics.get("beats_baseline")
        return None if value is None else bool(value)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "model_name": self.model_name,
                "task": self.task,
                "evaluated_at": self.evaluated_at,
                "passed": self.passed,
                "beats_baseline": self.beats_baseline,
                "warnings": list(self.warnings),
                "text_column": self.text_column,
                "classes": self.classes,
                "metrics": self.metrics,
                "checks": [c.to_dict() for c in self.checks],
                "baseline": self.baseline,
                "per_class": self.per_class,
                "top_confusions": self.top_confusions,
                "confusion_matrix": self.confusion_matrix,
                "reliability": self.reliability,
                "segments": {name: seg.to_dict() for name, seg in self.segments.items()},
                "unmeasured_segments": dict(self.unmeasured_segments),
            }
        )


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


def _segment_values(frame: pd.DataFrame, segments: list[str]) -> dict[str, pd.api.extensions.ExtensionArray]:
    """Each bias segment of `frame` as strings, positionally: a missing value stays missing, and a segment
    the rows lack is all missing (so every predictions file has every segment of the spec)."""
    return {
        name: frame[name].astype("string").array
        if name in frame.columns
        else pd.array([pd.NA] * len(frame), dtype="string")
        for name in segments
    }


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
    classifier: Classifier,
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    min_group_rows: int | None = None,
    train_frame: pd.DataFrame | None = None,
) -> EvaluationReport | TextEvaluationReport:
    """Score `frame` (model inputs, the label and the spec's bias segments) and measure everything.

    Labels are the spec's strings; rows are held out from training (the caller's test split).
    Text models (`spec.task == "text_classification"`) get a `TextEvaluationReport`; with
    `train_frame` (the rows the model was trained on) a TF-IDF baseline is fitted on it and compared.
    `min_group_rows`: groups smaller than this are flagged (binary) or left unmeasured (text);
    default 30 for binary models, 20 for text models.
    """
    if spec.task == "text_classification":
        return _evaluate_text(
            classifier,
            frame,
            spec,
            train_frame=train_frame,
            min_group_rows=MIN_TEXT_GROUP_ROWS if min_group_rows is None else min_group_rows,
        )
    return _evaluate_binary(
        classifier, frame, spec, min_group_rows=30 if min_group_rows is None else min_group_rows
    )


def _evaluate_binary(
    classifier: TabularClassifier, frame: pd.DataFrame, spec: ModelSpec, *, min_group_rows: int
) -> EvaluationReport:
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
    predictions = pd.DataFrame(
        {
            "y_true": np.asarray(y, dtype=np.int8),
            "y_score": np.asarray(proba, dtype=float),
            "y_pred": (np.asarray(proba, dtype=float) >= threshold).astype(np.int8),
            **_segment_values(frame, spec.evaluation.bias_segments),
        }
    )
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
        predictions=predictions,
    )


def _string_labels(frame: pd.DataFrame, spec: ModelSpec, what: str) -> list[str]:
    labels = frame[spec.data.label]
    if labels.isna().any():
        raise InvalidInputError(
            f"model '{spec.name}': {what} has {int(labels.isna().sum())} rows without a label "
            f"('{spec.data.label}'); drop them before evaluating"
        )
    return labels.astype(str).tolist()


def _measurable_segments(frame: pd.DataFrame, spec: ModelSpec) -> tuple[list[str], dict[str, str]]:
    """Segments present with some values; the others and why (a real dataset may lack them)."""
    measured, skipped = [], {}
    for name in spec.evaluation.bias_segments:
        if name not in frame.columns:
            skipped[name] = "the test rows have no such column"
        elif frame[name].isna().all():
            skipped[name] = "the column is empty in the test rows"
        else:
            measured.append(name)
    return measured, skipped


def _evaluate_text(
    classifier: Any,
    frame: pd.DataFrame,
    spec: ModelSpec,
    *,
    train_frame: pd.DataFrame | None,
    min_group_rows: int,
) -> TextEvaluationReport:
    from cxops.evaluation.baseline import BASELINE_NAME, tfidf_baseline

    assert spec.text is not None
    text = spec.text.column
    for what, part in (("evaluation frame", frame), ("training frame", train_frame)):
        if part is None:
            continue
        missing = [c for c in (text, spec.data.label) if c not in part.columns]
        if missing:
            raise InvalidInputError(
                f"model '{spec.name}': {what} lacks columns {missing}; it needs the text column "
                f"'{text}' and the label '{spec.data.label}'"
            )
    if len(frame) == 0:
        raise InvalidInputError(f"model '{spec.name}': evaluation frame has no rows")
    frame = frame.reset_index(drop=True)
    y = _string_labels(frame, spec, "the evaluation frame")
    train_y = _string_labels(train_frame, spec, "the training frame") if train_frame is not None else []

    model_classes = [str(c) for c in classifier.classes]
    proba = np.asarray(classifier.predict_proba(frame), dtype=float)
    if proba.shape != (len(frame), len(model_classes)):
        raise InvalidInputError(
            f"model '{spec.name}': predict_proba returned shape {proba.shape}, expected "
            f"({len(frame)}, {len(model_classes)}) (one column per class)"
        )
    warnings = []
    unseen = sorted(set(y) - set(model_classes))
    if unseen:
        warnings.append(
            f"The test rows hold classes the model cannot predict: {unseen[:10]} "
            f"({sum(v in unseen for v in y)} rows); they count as errors."
        )
    # One class list for candidate and baseline, so both are scored on the same confusion matrix.
    extra = sorted((set(y) | set(train_y)) - set(model_classes))
    classes = model_classes + extra
    proba = np.hstack([proba, np.zeros((len(frame), len(extra)))])

    scored = multiclass_metrics(y, proba, classes)
    metrics: dict[str, float | bool] = {k: scored[k] for k in SCALAR_METRICS}
    predicted = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]

    measured, unmeasured = _measurable_segments(frame, spec)
    segments = {
        name: text_segment_report(name, frame[name], y, predicted, min_group_rows=min_group_rows)
        for name in measured
    }

    baseline = None
    if train_frame is not None:
        base_proba = tfidf_baseline(
            train_frame[text], train_y, frame[text], classes=classes, mask_pii=spec.text.mask_pii
        )
        base = multiclass_metrics(y, base_proba, classes)
        baseline = {
            "name": BASELINE_NAME,
            "train_rows": len(train_frame),
            "metrics": {k: base[k] for k in SCALAR_METRICS},
        }
        metrics["baseline_accuracy"] = base["accuracy"]
        metrics["baseline_macro_f1"] = base["macro_f1"]
        metrics["beats_baseline"] = bool(scored["macro_f1"] > base["macro_f1"])
        if not metrics["beats_baseline"]:
            warnings.insert(
                0,
                f"This candidate does not beat the {BASELINE_NAME}: macro-F1 {scored['macro_f1']:.3f} "
                f"against {base['macro_f1']:.3f} (accuracy {scored['accuracy']:.3f} against "
                f"{base['accuracy']:.3f}). A TF-IDF model fitted in seconds does as well; review before "
                "promoting.",
            )

    return TextEvaluationReport(
        model_name=spec.name,
        text_column=text,
        classes=classes,
        metrics=metrics,
        per_class=scored["per_class"],
        confusion_matrix=scored["confusion_matrix"],
        top_confusions=scored["top_confusions"],
        reliability=scored["reliability"],
        segments=segments,
        checks=check_thresholds(metrics, spec.evaluation.thresholds),
        baseline=baseline,
        unmeasured_segments=unmeasured,
        warnings=warnings,
        predictions=pd.DataFrame(
            {
                "y_true": pd.array(y, dtype="string"),
                "y_pred": pd.array([str(v) for v in predicted], dtype="string"),
                **_segment_values(frame, spec.evaluation.bias_segments),
            }
        ),
    )
