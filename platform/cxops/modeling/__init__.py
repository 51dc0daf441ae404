"""Trained model artifacts: how a model's inputs are encoded, and how it is saved, loaded and called."""

from __future__ import annotations

from pathlib import Path

from cxops.modeling.ranking import OfferRanker, is_ranker_artifact
from cxops.modeling.tabular import TabularClassifier
from cxops.modeling.text import TextClassifier, is_text_artifact

__all__ = ["Classifier", "OfferRanker", "TabularClassifier", "TextClassifier", "load_classifier"]

Classifier = TabularClassifier | TextClassifier | OfferRanker
"""Every kind of trained model artifact (the ranker scores pairs rather than classifying rows)."""


def load_classifier(directory: Path) -> Classifier:
    """The trained model saved in `directory`, whichever kind it is."""
    if is_text_artifact(directory):
        return TextClassifier.load(directory)
    if is_ranker_artifact(directory):
        return OfferRanker.load(directory)
    return TabularClassifier.load(directory)
