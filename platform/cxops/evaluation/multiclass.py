"""Multi-class metrics on class probabilities: decisions (argmax), per-class scores, confusions, calibration.

Labels are class names; `proba` has one column per class in `classes` order and rows summing to one.
Calibration is measured on the top label: how often the most probable class is right, against how
confident the model was in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cxops.errors import InvalidInputError

__all__ = [
    "SCALAR_METRICS",
    "confusion_matrix",
    "multiclass_metrics",
    "per_class_scores",
    "top_confusions",
    "top_label_reliability",
]

SCALAR_METRICS = (
    "rows",
    "classes",
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
    "min_class_f1",
    "log_loss",
    "expected_calibration_error",
    "brier_score",
)
"""The single-number entries of `multiclass_metrics` (the rest are tables)."""

_EPS = 1e-15


def _inputs(y_true: Any, proba: Any, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    names = [str(c) for c in classes]
    if len(set(names)) != len(names) or len(names) < 2:
        raise InvalidInputError(f"multi-class metrics need two or more distinct classes; got {names}")
    p = np.asarray(proba, dtype=float)
    labels = np.asarray([str(v) for v in y_true], dtype=object)
    if p.ndim != 2 or p.shape != (len(labels), len(names)):
        raise InvalidInputError(
            f"probabilities must have one row per label and one column per class: expected "
            f"({len(labels)}, {len(names)}), got {p.shape}"
        )
    if len(labels) == 0:
        raise InvalidInputError("multi-class metrics need at least one row")
    if not np.isfinite(p).all() or (p < 0).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise InvalidInputError(
            "probabilities must be finite, non-negative and sum to 1 in each row (columns in `classes` order)"
        )
    unknown = sorted(set(labels) - set(names))
    if unknown:
        raise InvalidInputError(
            f"labels {unknown[:5]} are not among the {len(names)} classes; add them to `classes` "
            "(with zero-probability columns) or drop those rows"
        )
    index = {c: i for i, c in enumerate(names)}
    return np.fromiter((index[v] for v in labels), dtype=np.int64, count=len(labels)), p, names


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Counts: row = true class index, column = predicted class index."""
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def per_class_scores(matrix: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support of each class (0 where undefined), in `classes` order."""
    tp = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    support = matrix.sum(axis=1)
    rows = []
    for i, name in enumerate(classes):
        precision = tp[i] / predicted[i] if predicted[i] else 0.0
        recall = tp[i] / support[i] if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {
                "class": name,
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(f1),
                "support": int(support[i]),
                "predicted": int(predicted[i]),
            }
        )
    return rows


def top_confusions(matrix: np.ndarray, classes: Sequence[str], n: int = 10) -> list[dict[str, Any]]:
    """The `n` largest off-diagonal cells: which true class is most often taken for which other one."""
    support = matrix.sum(axis=1)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    true_idx, pred_idx = np.nonzero(off)
    counts = off[true_idx, pred_idx]
    # Largest count first; ties broken by class order so reports are stable.
    order = np.lexsort((pred_idx, true_idx, -counts))[:n]
    return [
        {
            "true": classes[true_idx[i]],
            "predicted": classes[pred_idx[i]],
            "count": int(counts[i]),
            "share_of_true": float(counts[i] / support[true_idx[i]]),
        }
        for i in order
    ]


def top_label_reliability(
    correct: np.ndarray, confidence: np.ndarray, bins: int = 10
) -> list[dict[str, float]]:
    """Equal-width confidence bins: rows, mean top-label confidence and accuracy in each."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    # floor(c * bins) keeps round confidences (0.6) in the bin they open; linspace edges drift by an ulp.
    index = np.clip(np.floor(confidence * bins).astype(int), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        out.append(
            {
                "lower": float(edges[b]),
                "upper": float(edges[b + 1]),
                "count": count,
                "mean_confidence": float(confidence[mask].mean()) if count else float("nan"),
                "accuracy": float(correct[mask].mean()) if count else float("nan"),
            }
        )
    return out


def multiclass_metrics(
    y_true: Sequence[Any], proba: Any, classes: Sequence[str], *, top_n: int = 10, bins: int = 10
) -> dict[str, Any]:
    """Every metric of a multi-class model on labelled rows; the predicted class is the most probable.

    Scalars (`SCALAR_METRICS`) plus tables: `per_class`, `confusion_matrix` (rows = true class,
    columns = predicted, both in `class_names` order), `top_confusions` and `reliability`.
    Macro averages run over the classes that occur in the labels or the predictions (a class the test
    rows never hold and the model never predicts says nothing about the model).
    """
    y, p, names = _inputs(y_true, proba, classes)
    k = len(names)
    pred = p.argmax(axis=1)
    matrix = confusion_matrix(y, pred, k)
    per_class = per_class_scores(matrix, names)
    seen = [r for r in per_class if r["support"] or r["predicted"]]
    support = np.array([r["support"] for r in per_class], dtype=float)
    f1 = np.array([r["f1"] for r in per_class])

    correct = (pred == y).astype(float)
    confidence = p.max(axis=1)
    reliability = top_label_reliability(correct, confidence, bins)
    n = len(y)
    ece = sum(b["count"] / n * abs(b["accuracy"] - b["mean_confidence"]) for b in reliability if b["count"])
    onehot = np.zeros_like(p)
    onehot[np.arange(n), y] = 1.0
    return {
        "rows": float(n),
        "classes": float(k),
        "accuracy": float(correct.mean()),
        "macro_f1": float(np.mean([r["f1"] for r in seen])),
        "weighted_f1": float((f1 * support).sum() / support.sum()),
        "macro_precision": float(np.mean([r["precision"] for r in seen])),
        "macro_recall": float(np.mean([r["recall"] for r in seen])),
        "min_class_f1": float(min(r["f1"] for r in per_class if r["support"])),
        "log_loss": float(-np.mean(np.log(np.clip(p[np.arange(n), y], _EPS, 1.0)))),
        "expected_calibration_error": float(ece),
        # Multi-class Brier: squared distance to the one-hot label summed over classes (0 best, 2 worst).
        "brier_score": float(np.mean(((p - onehot) ** 2).sum(axis=1))),
        "class_names": names,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "top_confusions": top_confusions(matrix, names, top_n),
        "reliability": reliability,
    }
