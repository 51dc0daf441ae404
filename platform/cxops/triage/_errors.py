"""The triage package's errors, rooted in `TriageError` (a `CXOpsError`, so each knows its HTTP status)."""

from __future__ import annotations

from typing import Any

from cxops.errors import CXOpsError, InvalidInputError

__all__ = [
    "ModelUnavailableError",
    "PolicyError",
    "TriageError",
    "TriageServiceError",
    "TriageUnavailableError",
    "UnknownCustomerError",
]


class TriageError(CXOpsError):
    """Root of the triage errors."""


class PolicyError(TriageError, InvalidInputError):
    """The triage policy file is missing, not YAML, or does not validate (against its schema or the specs)."""

    status_code = 422


class ModelUnavailableError(TriageError):
    """A model endpoint gave no usable answer: unreachable, timed out, 5xx, or a malformed response.

    `cause` is short and free of infrastructure details (no URLs): it goes into the decision's reasons.
    """

    status_code = 503

    def __init__(self, model: str, cause: str) -> None:
        super().__init__(f"the {model} model is unavailable: {cause}")
        self.model = model
        self.cause = cause


class UnknownCustomerError(TriageError):
    """The churn model has no features for the customer (it answered 404)."""

    status_code = 404


class TriageServiceError(TriageError):
    """The triage service answered with an error: `status_code` is its HTTP status, `error` its message."""

    def __init__(self, message: str, *, status_code: int, error: str = "", body: Any = None) -> None:
        super().__init__(message, status_code=status_code)
        self.error = error
        self.body = body


class TriageUnavailableError(TriageError):
    """The triage service could not be reached (connection refused, DNS, timeout)."""

    status_code = 503
