"""Errors of governance. Each knows the HTTP status the platform API answers with."""

from __future__ import annotations

from cxops.errors import ConflictError, CXOpsError, InvalidInputError, NotFoundError

__all__ = [
    "AuthenticationError",
    "GateFailedError",
    "GovernanceError",
    "GovernanceInputError",
    "GovernanceNotFoundError",
    "PermissionDeniedError",
    "PolicyError",
]


class GovernanceError(CXOpsError):
    """Root of governance errors (HTTP 500 unless a subclass says otherwise)."""


class GovernanceInputError(GovernanceError, InvalidInputError):
    """An argument governance cannot accept, such as an unknown stage or an empty reason (422)."""

    status_code = 422


class GovernanceNotFoundError(GovernanceError, NotFoundError):
    """An approval, token or record that does not exist (404)."""

    status_code = 404


class PolicyError(GovernanceError):
    """A missing or invalid policy file; nothing is decided on a broken policy (500)."""


class GateFailedError(GovernanceError, ConflictError):
    """A transition blocked by a failing gate; `gates` holds every gate as evaluated (409)."""

    status_code = 409

    def __init__(self, message: str, gates: list[dict[str, object]]) -> None:
        super().__init__(message)
        self.gates = gates


class AuthenticationError(GovernanceError):
    """No identity, or a token that is unknown, expired or revoked (401)."""

    status_code = 401


class PermissionDeniedError(GovernanceError):
    """The actor's roles do not grant the permission the action needs (403)."""

    status_code = 403
