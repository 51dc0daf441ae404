"""The decision threshold: the score above which a row is called positive, chosen on validation rows."""

from __future__ import annotations

from typing import Literal

import numpy as np

from cxops.errors import InvalidInputError

__all__ = ["choose_threshold", "fbeta_at"]

_BETA = {"f1": 1.0, "f2": 2.0}


def _beta(metric: str) -> float:
    try:
        return _BETA[metric]
    except KeyError:
        raise InvalidInputError(
            f"threshold metric '{metric}' is not known; use one of {sorted(_BETA)}"
        ) from None


def fbeta_at(y_true: np.ndarray, proba: np.ndarray, threshold: float, beta: float = 1.0) -> float:
    """F-beta of the rule `proba >= threshold` (0 when nothing is called or nothing is positive)."""
    y = np.asarray(y_true).astype(bool)
    called = np.asarray(proba) >= threshold
    tp = float(np.sum(called & y))
    fp = float(np.sum(called & ~y))
    fn = float(np.sum(~called & y))
    b2 = beta * beta
    denom = (1 + b2) * tp + b2 * fn + fp
    return 0.0 if denom == 0 else (1 + b2) * tp / denom


def choose_threshold(
    y_true: np.ndarray, proba: np.ndarray, metric: Literal["f1", "f2"] | str = "f1"
) -> tuple[float, float]:
    """(threshold, score): the cut that maximises F1 or F2 of `proba >= threshold` on these rows.

    Every distinct score is a candidate; the cut is placed half-way between the chosen score and the
    next lower one so that a score a hair below a validation score is not flipped by float noise. Ties
    in the metric go to the higher threshold (fewer contacts for the same quality).
    """
    beta = _beta(metric)
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(proba, dtype=float)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise InvalidInputError(
            f"threshold choice needs two equally long, non-empty 1-d arrays; got "
            f"{y.shape} labels and {p.shape} scores"
        )
    if not y.any():
        raise InvalidInputError(
            "threshold choice needs at least one positive validation row; the "
            "validation split has none (more data, or a larger validation_fraction)"
        )
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # Calling the top k rows positive, for every k that ends at a change of score.
    tp = np.cumsum(y_sorted)
    called = np.arange(1, len(p) + 1)
    last_of_score = np.r_[p_sorted[1:] != p_sorted[:-1], True]
    tp, called, cut_scores = tp[last_of_score], called[last_of_score], p_sorted[last_of_score]
    fp = called - tp
    fn = y.sum() - tp
    b2 = beta * beta
    f = (1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp)
    best = int(np.argmax(f))  # first maximum = highest threshold among equals
    lower = np.r_[cut_scores[1:], 0.0]
    threshold = float((cut_scores[best] + lower[best]) / 2.0)
    return threshold, float(f[best])
