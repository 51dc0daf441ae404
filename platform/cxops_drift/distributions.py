"""Reference and current distributions of each tabular feature, for the drift report.

Numbers are binned at the reference's deciles (the outer edges widened to hold the window's values too),
categories are counted by name, so a reader sees *how* a feature moved, not only that its test failed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cxops_drift.spec import Feature

__all__ = ["NULL_LABEL", "summarise"]

NULL_LABEL = "(null)"
_DECILES = np.linspace(0.0, 1.0, 11)


def _numeric(reference: np.ndarray, current: np.ndarray) -> tuple[dict[str, Any], dict[str, Any]]:
    edges = np.unique(np.quantile(reference, _DECILES))
    if edges.size < 2:  # a constant reference: one bin around its value
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    edges[0] = min(edges[0], float(current.min(initial=edges[0])))
    edges[-1] = max(edges[-1], float(current.max(initial=edges[-1])))
    ref_counts, _ = np.histogram(reference, bins=edges)
    cur_counts, _ = np.histogram(current, bins=edges)
    shared = {"edges": [round(float(e), 6) for e in edges]}
    return {**shared, "counts": ref_counts.tolist()}, {**shared, "counts": cur_counts.tolist()}


def _categorical(
    feature: Feature, reference: np.ndarray, current: np.ndarray
) -> tuple[dict[str, Any], dict[str, Any]]:
    labels = [*feature.categories, NULL_LABEL]
    codes = range(len(labels))
    ref_counts = [int(np.count_nonzero(reference == c)) for c in codes]
    cur_counts = [int(np.count_nonzero(current == c)) for c in codes]
    keep = [i for i in codes if ref_counts[i] or cur_counts[i]]
    names = [labels[i] for i in keep]
    return (
        {"categories": names, "counts": [ref_counts[i] for i in keep]},
        {"categories": names, "counts": [cur_counts[i] for i in keep]},
    )


def summarise(feature: Feature, reference: np.ndarray, current: np.ndarray) -> tuple[dict, dict]:
    """(reference, current) summaries of one encoded column (numbers, or category codes)."""
    if feature.numeric:
        return _numeric(reference.astype(float), current.astype(float))
    return _categorical(feature, reference.astype(int), current.astype(int))
