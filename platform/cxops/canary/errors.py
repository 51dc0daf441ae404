"""Errors of canary releases. Each knows the HTTP status the platform API answers with."""

from __future__ import annotations

from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError

__all__ = [
    "CanaryBackendError",
    "CanaryConflictError",
    "CanaryError",
    "CanaryInvalidError",
    "CanaryModeError",
    "CanaryNotFoundError",
    "CanaryPermissionError",
]


class CanaryError(CXOpsError):
    """Root of canary errors (HTTP 500 unless a subclass says otherwise)."""


class CanaryNotFoundError(CanaryError, NotFoundError):
    """The served model (on Kubernetes: its InferenceService) is not where it was looked for (404)."""

    status_code = 404


class CanaryPermissionError(CanaryError):
    """The platform's identity may not read or change the served model (403; 401 when unauthenticated)."""

    status_code = 403


class CanaryConflictError(CanaryError, ConflictError):
    """The change clashes with the current state: changed meanwhile, or a canary (not) in progress (409)."""

    status_code = 409


class CanaryInvalidError(CanaryError, InvalidInputError):
    """An argument or a change the serving platform rejects, such as a percentage outside 0-100 (422)."""

    status_code = 422


class CanaryModeError(CanaryInvalidError):
    """The serving platform runs the model in a mode that cannot split traffic this way (422)."""


class CanaryBackendError(CanaryError):
    """The serving platform failed or could not be reached (502; 503 when unreachable)."""

    status_code = 502
