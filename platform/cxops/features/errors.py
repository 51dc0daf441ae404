"""Errors of the feature layer."""

from __future__ import annotations

from cxops.errors import CXOpsError, InvalidInputError

__all__ = ["FeatureDefinitionError", "FeatureStoreError"]


class FeatureStoreError(CXOpsError):
    """The feature store could not do what was asked (a Feast or storage failure)."""

    status_code = 500


class FeatureDefinitionError(FeatureStoreError, InvalidInputError):
    """The Feast repository does not define what a model spec expects (or defines it differently)."""

    status_code = 422
