"""Errors of the metadata store. Each is a `RegistryError` and also the generic CXOps error of its kind."""

from __future__ import annotations

from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError

__all__ = ["RegistryConflictError", "RegistryError", "RegistryInputError", "RegistryNotFoundError"]


class RegistryError(CXOpsError):
    """Root of the registry's errors (HTTP 500 unless a subclass says otherwise)."""


class RegistryNotFoundError(RegistryError, NotFoundError):
    """A model, version, dataset or validation that is not in the store (404)."""

    status_code = 404


class RegistryInputError(RegistryError, InvalidInputError):
    """An argument the store cannot accept, such as an unknown stage (422)."""

    status_code = 422


class RegistryConflictError(RegistryError, ConflictError):
    """A write that lost against concurrent writers more often than it retries (409)."""

    status_code = 409
