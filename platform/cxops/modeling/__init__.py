"""Trained model artifacts: how a model's inputs are encoded, and how it is saved, loaded and called."""

from __future__ import annotations

from pathlib import Path

from cxops.modeling.tabular import TabularClassifier
from cxops.modeling.text import TextClassifier, is_text_artifact

__all__ = ["Classifier", "TabularClassifier", "TextClassifier", "load_classifier"]

Classifier = TabularClassifier | TextClassifier


def load_classifier(directory: Path) -> Classifier:
    """The trained classifier saved in `directory`, whichever kind it is."""
    if is_text_artifact(directory):
        return TextClassifier.load(directory)
    return TabularClassifier.load(directory)
