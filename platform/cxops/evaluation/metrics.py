"""Binary-classification metrics on scores and a decision threshold: ranking, decisions, lift, calibration."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cxops.errors import InvalidInputError

__all__ = [
    "binary_metrics",
    "confusion",
    "expected_calibration_error",
    "lift_at",
    "lift_table",
    "reliability_bins",
    "roc_points",
]


def _arrays(y_true: Any, proba: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int)
    p = np.asarray(proba, dtype=float)
    if y.ndim != 1 or y.shape != p.shape:
        raise InvalidInputError(
            f"metrics need equally long 1-d labels and scores; got {y.shape} and {p.shape}"
        )
    if len(y) == 0:
        raise InvalidInputError("metrics need at least one row")
    if not np.isin(y, (0, 1)).all():
        raise InvalidInputError("labels must be 0/1")
    return y, p


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def confusion(y_true: Any, y_pred: Any) -> dict[str, int]:
    """Counts of true/false positives/negatives (positive class = 1)."""
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(y_pred).astype(bool)
    return {
        "tn": int(np.sum(~y & ~p)),
        "fp": int(np.sum(~y & p)),
        "fn": int(np.sum(y & ~p)),
        "tp": int(np.sum(y & p)),
    }


def _top_rows(p: np.ndarray, fraction: float) -> np.ndarray:
    k = max(1, math.ceil(len(p) * fraction))
    return np.argsort(-p, kind="stable")[:k]


def lift_at(y_true: Any, proba: Any, fraction: float = 0.1) -> float:
    """Positive rate among the top `fraction` of rows by score, over the overall positive rate."""
    y, p = _arrays(y_true, proba)
    base = y.mean()
    return _ratio(y[_top_rows(p, fraction)].mean(), base)


def lift_table(y_true: Any, proba: Any, groups: int = 10) -> list[dict[str, float]]:
    """Per score decile (highest scores first): rows, positives, rate, lift, cumulative share of positives."""
    y, p = _arrays(y_true, proba)
    order = np.argsort(-p, kind="stable")
    base, total_pos = y.mean(), y.sum()
    rows, captured = [], 0
    for i, part in enumerate(np.array_split(order, groups), start=1):
        if len(part) == 0:
            continue
        pos = int(y[part].sum())
        captured += pos
        rows.append(
            {
                "group": i,
                "rows": len(part),
                "positives": pos,
                "rate": float(y[part].mean()),
                "lift": _ratio(y[part].mean(), base),
                "cumulative_capture": _ratio(captured, total_pos),
                "min_score": float(p[part].min()),
                "max_score": float(p[part].max()),
            }
        )
    return rows


def reliability_bins(y_true: Any, proba: Any, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width score bins: how many rows, mean predicted score, observed positive rate."""
    y, p = _arrays(y_true, proba)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        out.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_predicted": float(p[mask].mean()) if count else float("nan"),
                "observed_rate": float(y[mask].mean()) if count else float("nan"),
            }
        )
    return out


def expected_calibration_error(y_true: Any, proba: Any, bins: int = 10) -> float:
    """Row-weighted mean gap between predicted score and observed rate over equal-width bins."""
    y, _ = _arrays(y_true, proba)
    n = len(y)
    return float(
        sum(
            b["count"] / n * abs(b["observed_rate"] - b["mean_predicted"])
            for b in reliability_bins(y_true, proba, bins)
            if b["count"]
        )
    )


def roc_points(y_true: Any, proba: Any, max_points: int = 200) -> dict[str, list[float]]:
    """False/true positive rates of the ROC curve, thinned to at most `max_points` for reports."""
    from sklearn.metrics import roc_curve

    y, p = _arrays(y_true, proba)
    if len(np.unique(y)) < 2:
        return {"fpr": [], "tpr": []}
    fpr, tpr, _ = roc_curve(y, p)
    if len(fpr) > max_points:
        keep = np.unique(np.r_[np.linspace(0, len(fpr) - 1, max_points).astype(int), len(fpr) - 1])
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr]}


def binary_metrics(y_true: Any, proba: Any, threshold: float) -> dict[str, float]:
    """Every headline metric of scores `proba` and the rule `proba >= threshold`.

    Ranking metrics (ROC-AUC, PR-AUC) are NaN when only one class is present.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, p = _arrays(y_true, proba)
    pred = p >= threshold
    c = confusion(y, pred)
    precision = _ratio(c["tp"], c["tp"] + c["fp"])
    recall = _ratio(c["tp"], c["tp"] + c["fn"])
    both = len(np.unique(y)) == 2
    eps = 1e-15
    clipped = np.clip(p, eps, 1 - eps)
    return {
        "rows": float(len(y)),
        "positive_rate": float(y.mean()),
        "predicted_positive_rate": float(pred.mean()),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "f2": _ratio(5 * precision * recall, 4 * precision + recall),
        "accuracy": _ratio(c["tp"] + c["tn"], len(y)),
        "false_positive_rate": _ratio(c["fp"], c["fp"] + c["tn"]),
        "lift_top_decile": lift_at(y, p, 0.1),
        "brier_score": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
        "expected_calibration_error": expected_calibration_error(y, p),
    }
