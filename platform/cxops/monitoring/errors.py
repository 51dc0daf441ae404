"""Errors of monitoring and the retraining loop. Each knows the HTTP status the platform API answers with."""

from __future__ import annotations

from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError

__all__ = [
    "MonitorUnavailableError",
    "MonitoringConflictError",
    "MonitoringError",
    "MonitoringInvalidError",
    "MonitoringNotFoundError",
]


class MonitoringError(CXOpsError):
    """Root of monitoring errors (HTTP 500 unless a subclass says otherwise)."""


class MonitoringNotFoundError(MonitoringError, NotFoundError):
    """An alert, a retraining run or a drift reference that is not there (404)."""

    status_code = 404


class MonitoringInvalidError(MonitoringError, InvalidInputError):
    """A policy, an alert or an argument that cannot be used as given (422)."""

    status_code = 422


class MonitoringConflictError(MonitoringError, ConflictError):
    """The change clashes with the current state, e.g. a retraining of the model already running (409)."""

    status_code = 409


class MonitorUnavailableError(MonitoringError):
    """The drift monitor service failed or could not be reached (503)."""

    status_code = 503
