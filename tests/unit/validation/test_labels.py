from __future__ import annotations

import pandas as pd

from cxops.specs import ModelSpec
from cxops.validation import label_set


def test_churn_has_only_its_categories(spec: ModelSpec) -> None:
    assert label_set(spec, pd.Series(["Yes", "No", "maybe"])) == ("spec", ["No", "Yes"])


def test_the_set_covering_most_labels_wins(intent_spec: ModelSpec) -> None:
    real = intent_spec.data.real_dataset_labels
    assert real is not None
    ours = intent_spec.label_categories

    assert label_set(intent_spec, pd.Series(ours[:3] + real[:2])) == ("spec", ours)
    assert label_set(intent_spec, pd.Series(ours[:2] + real[:3])) == ("real_dataset", real)


def test_ties_and_empty_labels_go_to_the_spec(intent_spec: ModelSpec) -> None:
    real = intent_spec.data.real_dataset_labels
    assert real is not None

    assert label_set(intent_spec, pd.Series([intent_spec.label_categories[0], real[0]]))[0] == "spec"
    assert label_set(intent_spec, pd.Series([None, None], dtype=object))[0] == "spec"
    assert label_set(intent_spec, pd.Series(["neither", "of", "them"]))[0] == "spec"


def test_missing_labels_are_ignored(intent_spec: ModelSpec) -> None:
    real = intent_spec.data.real_dataset_labels
    assert real is not None

    assert label_set(intent_spec, pd.Series([real[0], None, None, None], dtype=object))[0] == "real_dataset"


def test_sentiment_has_no_second_set(sentiment_spec: ModelSpec) -> None:
    assert label_set(sentiment_spec, pd.Series(["negative"])) == ("spec", ["negative", "neutral", "positive"])
