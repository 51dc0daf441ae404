"""The root error type of the drift monitor. Every error knows the HTTP status the service answers with."""

from __future__ import annotations

__all__ = ["ConflictError", "DriftError", "InvalidError", "NotFoundError"]


class DriftError(Exception):
    """Base of every drift monitor error (HTTP 500 unless a subclass says otherwise).

    Messages name the object, its scope and the fix.
    """

    status_code: int = 500

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code

    @property
    def message(self) -> str:
        return str(self)


class NotFoundError(DriftError):
    """A bundle, a detector or a file that is not there (404)."""

    status_code = 404


class InvalidError(DriftError):
    """A bundle, an event or a request that cannot be used as given (400)."""

    status_code = 400


class ConflictError(DriftError):
    """The request clashes with what the service holds, e.g. a version loaded from another bundle (409)."""

    status_code = 409
