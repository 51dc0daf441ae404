"""Errors of the platform API, and how every error becomes the one JSON shape clients read:

    {"error": {"status": 409, "message": "...", "type": "GateFailedError", "gates": [...]}}

`gates` is present only on a blocked stage change. The client turns this body back into the same
`CXOpsError` subclass, so a command prints the same message whether it ran embedded or over HTTP."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cxops.errors import CXOpsError

__all__ = ["ApiError", "RouteAccessError", "error_body", "install_error_handlers"]

log = logging.getLogger(__name__)

_HTTP_TYPES = {401: "AuthenticationError", 403: "PermissionDeniedError", 404: "NotFoundError"}


class ApiError(CXOpsError):
    """Root of the platform API's own errors (HTTP 500 unless a subclass says otherwise)."""


class RouteAccessError(ApiError):
    """A route that does not declare, through exactly one dependency, who may call it (a bug: the app is not
    built)."""


def error_body(status: int, message: str, type_: str, gates: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "message": message, "type": type_}
    if gates is not None:
        body["gates"] = gates
    return {"error": body}


def _response(status: int, body: dict[str, Any]) -> JSONResponse:
    # RFC 6750: a 401 names the scheme the client should retry with.
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "request"


async def _cxops_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CXOpsError)
    status = exc.status_code
    if status >= 500:
        log.error("request failed: %s", exc, exc_info=exc)
    return _response(status, error_body(status, exc.message, type(exc).__name__, getattr(exc, "gates", None)))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in exc.errors())
    message = f"invalid request: {problems}; see /docs for this route's parameters"
    return _response(422, error_body(422, message, "InvalidInputError"))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = str(exc.detail)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}; /docs lists the routes"
    elif exc.status_code == 405:
        message = f"{request.url.path} does not answer {request.method}; /docs lists what it answers"
    type_ = _HTTP_TYPES.get(exc.status_code, "CXOpsError")
    return _response(exc.status_code, error_body(exc.status_code, message, type_))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error", exc_info=exc)
    message = f"internal error ({type(exc).__name__}); the server log has the details"
    return _response(500, error_body(500, message, "CXOpsError"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CXOpsError, _cxops_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
