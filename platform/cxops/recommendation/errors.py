"""Errors of the recommendation package; each knows the HTTP status an API answers with."""

from __future__ import annotations

from cxops.errors import CXOpsError

__all__ = ["ConsentRecordMissingError", "OfferPolicyError", "RecommendationError"]


class RecommendationError(CXOpsError):
    """Root of the recommendation package's errors."""


class OfferPolicyError(RecommendationError):
    """`policies/offers.yaml` is missing or invalid: the service refuses to start rather than guess."""

    status_code = 500


class ConsentRecordMissingError(RecommendationError):
    """No consent record for the customer: marketing needs proven consent (GDPR art. 7(1))."""

    status_code = 409
