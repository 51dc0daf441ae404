"""The root error type of CXOps. Every error knows the HTTP status an API would answer with."""

from __future__ import annotations

__all__ = ["CXOpsError", "NotFoundError", "InvalidInputError", "ConflictError", "ValidationFailedError"]


class CXOpsError(Exception):
    """Base of every CXOps error. Messages name the object, its scope and the fix."""

    status_code: int = 500

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code

    @property
    def message(self) -> str:
        return str(self)


class NotFoundError(CXOpsError):
    status_code = 404


class InvalidInputError(CXOpsError):
    status_code = 422


class ConflictError(CXOpsError):
    status_code = 409


class ValidationFailedError(CXOpsError):
    """Data did not meet its expectation suite; the pipeline stops here."""

    status_code = 422
