"""Bias by segment: the headline metrics per group (fairlearn `MetricFrame`) and the gaps between groups.

A segment is a raw column such as gender; it need not be a model input (the churn model never sees
gender) — bias is measured on the decisions, whatever the model was given. Binary models get rates,
ranking and parity gaps (`segment_report`); multi-class text models get accuracy and macro-F1 per group
and the gap between the best and the worst group (`text_segment_report`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxops.evaluation.metrics import binary_metrics

__all__ = [
    "GROUP_METRICS",
    "MIN_TEXT_GROUP_ROWS",
    "SegmentReport",
    "TextSegmentReport",
    "segment_report",
    "text_segment_report",
]

MISSING_GROUP = "(missing)"

GROUP_METRICS = [
    "rows",
    "positive_rate",
    "predicted_positive_rate",
    "roc_auc",
    "pr_auc",
    "precision",
    "recall",
    "f1",
    "false_positive_rate",
    "accuracy",
    "brier_score",
    "expected_calibration_error",
]
"""The per-group columns of a segment table (names as in `binary_metrics`)."""


@dataclass
class SegmentReport:
    """One segment: a row of metrics per group, and how far apart the groups are."""

    segment: str
    groups: list[dict[str, Any]]
    """One dict per group: `group` plus each of `GROUP_METRICS`."""
    demographic_parity_difference: float
    """Largest gap in the share of rows called positive."""
    demographic_parity_ratio: float
    """Smallest over largest share called positive (the "four-fifths rule" reads this)."""
    equal_opportunity_difference: float
    """Largest gap in recall (true-positive rate) between groups."""
    equalized_odds_difference: float
    """The larger of the TPR and FPR gaps."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "groups": self.groups,
            "demographic_parity_difference": self.demographic_parity_difference,
            "demographic_parity_ratio": self.demographic_parity_ratio,
            "equal_opportunity_difference": self.equal_opportunity_difference,
            "equalized_odds_difference": self.equalized_odds_difference,
            "notes": list(self.notes),
        }


def _group_metric(name: str, threshold: float) -> Callable[[np.ndarray, np.ndarray], float]:
    def metric(y: np.ndarray, p: np.ndarray) -> float:
        return binary_metrics(y, p, threshold)[name]

    metric.__name__ = name
    return metric


def _clean(value: float) -> float:
    return float(value) if value is not None and np.isfinite(value) else float("nan")


def segment_report(
    segment: str,
    values: pd.Series,
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    *,
    min_group_rows: int = 30,
) -> SegmentReport:
    """Per-group metrics and gaps for one segment column (`values`, aligned with labels and scores)."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equal_opportunity_difference,
        equalized_odds_difference,
    )

    groups = values.astype(object).where(values.notna(), MISSING_GROUP).astype(str).to_numpy()
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype=float)
    pred = (p >= threshold).astype(int)
    frame = MetricFrame(
        metrics={name: _group_metric(name, threshold) for name in GROUP_METRICS},
        y_true=y,
        y_pred=p,
        sensitive_features=pd.Series(groups, name=segment),
    )
    rows = []
    for group, metrics in frame.by_group.iterrows():
        rows.append({"group": str(group), **{k: _clean(v) for k, v in metrics.items()}})
    rows.sort(key=lambda r: r["group"])
    for row in rows:
        row["rows"] = int(row["rows"])
    notes = []
    small = [r["group"] for r in rows if r["rows"] < min_group_rows]
    if small:
        notes.append(f"groups {small} have fewer than {min_group_rows} rows: their metrics are unstable")
    one_class = [r["group"] for r in rows if r["positive_rate"] in (0.0, 1.0)]
    if one_class:
        notes.append(f"groups {one_class} hold only one class: ranking metrics and rates are undefined there")
    sensitive = pd.Series(groups, name=segment)
    return SegmentReport(
        segment=segment,
        groups=rows,
        demographic_parity_difference=_clean(
            demographic_parity_difference(y, pred, sensitive_features=sensitive)
        ),
        demographic_parity_ratio=_clean(demographic_parity_ratio(y, pred, sensitive_features=sensitive)),
        equal_opportunity_difference=_clean(
            equal_opportunity_difference(y, pred, sensitive_features=sensitive)
        ),
        equalized_odds_difference=_clean(equalized_odds_difference(y, pred, sensitive_features=sensitive)),
        notes=notes,
    )


MIN_TEXT_GROUP_ROWS = 20
"""Groups with fewer rows are left out of a text segment's table and gaps: with a dozen classes, a
handful of messages cannot tell a weaker group from noise."""


@dataclass
class TextSegmentReport:
    """One segment of a multi-class model: accuracy and macro-F1 per group, and the spread between groups."""

    segment: str
    groups: list[dict[str, Any]]
    """One dict per measured group: `group`, `rows`, `accuracy`, `macro_f1`."""
    accuracy_gap: float
    """Best minus worst group accuracy (NaN with fewer than two measured groups)."""
    macro_f1_gap: float
    worst_group: str | None
    """The group with the lowest macro-F1."""
    skipped: list[dict[str, Any]] = field(default_factory=list)
    """Groups too small to measure: `group` and `rows`."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "groups": self.groups,
            "accuracy_gap": self.accuracy_gap,
            "macro_f1_gap": self.macro_f1_gap,
            "worst_group": self.worst_group,
            "skipped": list(self.skipped),
            "notes": list(self.notes),
        }


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    # Over the classes this group holds or was given: a class absent from a group is no error of it.
    return float(f1_score(y, pred, average="macro", zero_division=0))


def text_segment_report(
    segment: str,
    values: pd.Series,
    y_true: Any,
    y_pred: Any,
    *,
    min_group_rows: int = MIN_TEXT_GROUP_ROWS,
) -> TextSegmentReport:
    """Accuracy and macro-F1 for each group of `values` (aligned with true and predicted class names)."""
    from fairlearn.metrics import MetricFrame, count
    from sklearn.metrics import accuracy_score

    groups = values.astype(object).where(values.notna(), MISSING_GROUP).astype(str).to_numpy()
    y = np.asarray([str(v) for v in y_true], dtype=object)
    pred = np.asarray([str(v) for v in y_pred], dtype=object)
    frame = MetricFrame(
        metrics={"rows": count, "accuracy": accuracy_score, "macro_f1": _macro_f1},
        y_true=y,
        y_pred=pred,
        sensitive_features=pd.Series(groups, name=segment),
    )
    measured, skipped = [], []
    for group, metrics in frame.by_group.iterrows():
        rows = int(metrics["rows"])
        if rows < min_group_rows:
            skipped.append({"group": str(group), "rows": rows})
            continue
        measured.append(
            {
                "group": str(group),
                "rows": rows,
                "accuracy": _clean(metrics["accuracy"]),
                "macro_f1": _clean(metrics["macro_f1"]),
            }
        )
    measured.sort(key=lambda r: r["group"])
    skipped.sort(key=lambda r: r["group"])
    notes = []
    if skipped:
        shown = ", ".join(f"{s['group']} ({s['rows']} rows)" for s in skipped)
        notes.append(f"groups with fewer than {min_group_rows} rows were not measured: {shown}")
    if len(measured) < 2:
        notes.append("fewer than two groups are large enough to compare: no gap is reported")
        nan = float("nan")
        worst = measured[0]["group"] if measured else None
        return TextSegmentReport(segment, measured, nan, nan, worst, skipped, notes)
    accuracy = [r["accuracy"] for r in measured]
    f1 = [r["macro_f1"] for r in measured]
    return TextSegmentReport(
        segment=segment,
        groups=measured,
        accuracy_gap=float(max(accuracy) - min(accuracy)),
        macro_f1_gap=float(max(f1) - min(f1)),
        worst_group=min(measured, key=lambda r: r["macro_f1"])["group"],
        skipped=skipped,
        notes=notes,
    )
