"""Trained model artifacts: how a model's inputs are encoded, and how it is saved, loaded and called."""

from cxops.modeling.tabular import TabularClassifier

__all__ = ["TabularClassifier"]
