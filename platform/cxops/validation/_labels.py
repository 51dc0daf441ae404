"""Which label set a dataset's labels belong to: the spec's own categories or the real dataset's.

A text model can be trained on generated data (labels from the label column's categories) or on its
public benchmark (`data.real_dataset_labels`, e.g. Banking77's 77 intents). Either is fine; a file that
mixes the two taxonomies is not, so the set that covers most labels is chosen and all labels must be in it.
"""

from __future__ import annotations

import pandas as pd

from cxops.specs import ModelSpec

__all__ = ["REAL_DATASET", "SPEC", "label_set"]

SPEC = "spec"
"""The label column's categories (`data.columns[label].categories`)."""
REAL_DATASET = "real_dataset"
"""The real dataset's labels (`data.real_dataset_labels`)."""


def label_set(spec: ModelSpec, labels: pd.Series) -> tuple[str, list[str]]:
    """(name, labels) of the set that covers most of `labels`; the spec's categories win ties, and are
    the only candidate when the spec names no real-dataset labels (churn). Missing labels are ignored."""
    candidates = [(SPEC, spec.label_categories)]
    if spec.data.real_dataset_labels:
        candidates.append((REAL_DATASET, list(spec.data.real_dataset_labels)))
    counts = labels.dropna().astype(str).value_counts()

    def covered(candidate: tuple[str, list[str]]) -> int:
        return int(counts[counts.index.isin(candidate[1])].sum())

    return max(candidates, key=covered)  # max keeps the first of equals: the spec's own set
