"""The error responses routes document in the OpenAPI (all share the body `ErrorOut`)."""

from __future__ import annotations

from typing import Any

from cxops.api.schemas import ErrorOut

__all__ = ["errors"]

_MEANING = {
    401: "No token, or an unknown, expired or revoked one.",
    403: "The caller's roles do not grant the permission this route needs.",
    404: "The model, version or token does not exist.",
    409: "A gate failed (the body lists every gate), or a concurrent change won.",
    422: "Invalid parameters or body, or a move the promotion policy does not allow.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorOut, "description": _MEANING[status]} for status in statuses}
