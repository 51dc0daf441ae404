"""Who may call each route. Every route declares its access through exactly one dependency:

    actor: Actor = Depends(require("models.promote"))   # a token whose roles grant the permission
    actor: Actor = Depends(authenticated())              # any valid token
    dependencies=[Depends(public())]                     # no token (health checks only)

The dependency authenticates the bearer token, resolves the user's roles from `policies/roles.yaml` and
checks the permission before the route runs, so a refused request changes nothing. `route_access(app)`
reads the declarations back from the app; the app refuses to build with a route that has none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import Route

from cxops.api.errors import RouteAccessError
from cxops.governance.errors import AuthenticationError
from cxops.governance.identity import Actor
from cxops.governance.policy import PERMISSIONS
from cxops.governance.service import Governance
from cxops.governance.tokens import authenticate

__all__ = ["AUTHENTICATED", "PUBLIC", "authenticated", "governance", "public", "require", "route_access"]

PUBLIC = "public"
"""Access of a route anyone may call, without a token."""
AUTHENTICATED = "authenticated"
"""Access of a route any valid token may call, whatever its roles."""

_ACCESS = "cxops_access"

_bearer = HTTPBearer(
    auto_error=False,
    description="A CXOps API token (`cxops auth issue --user NAME --name WHAT`), sent as "
    "`Authorization: Bearer <token>`.",
)


def governance(request: Request) -> Governance:
    """The governance service the app was built with."""
    gov: Governance = request.app.state.governance
    return gov


def _caller(gov: Governance, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    if credentials is None:
        raise AuthenticationError(
            "this route needs an API token: send `Authorization: Bearer <token>`; an admin issues one with "
            "`cxops auth issue --user NAME --name WHAT`"
        )
    return gov.actor(authenticate(gov.registry, credentials.credentials))


def _declare(dependency: Callable[..., Any], access: str) -> Callable[..., Any]:
    setattr(dependency, _ACCESS, access)
    return dependency


def require(permission: str) -> Callable[..., Actor]:
    """A dependency that returns the calling `Actor` when their roles grant `permission` (401 without a valid
    token, 403 without the permission)."""
    if permission not in PERMISSIONS:
        raise RouteAccessError(
            f"unknown permission {permission!r}; permissions are: {', '.join(PERMISSIONS)} "
            "(cxops.governance.policy.PERMISSIONS)"
        )

    def guard(
        gov: Governance = Depends(governance),
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Actor:
        actor = _caller(gov, credentials)
        gov.authorize(actor, permission)
        return actor

    return _declare(guard, permission)


def authenticated() -> Callable[..., Actor]:
    """A dependency that returns the calling `Actor` for any valid token, whatever its roles."""

    def guard(
        gov: Governance = Depends(governance),
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> Actor:
        return _caller(gov, credentials)

    return _declare(guard, AUTHENTICATED)


def public() -> Callable[[], None]:
    """A dependency that declares a route open to anyone, without a token."""

    def open_to_all() -> None:
        return None

    return _declare(open_to_all, PUBLIC)


def _declared(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        access = getattr(dependency.call, _ACCESS, None)
        if access is not None:
            yield access
        yield from _declared(dependency)


def _documentation_paths(app: FastAPI) -> set[str]:
    paths = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    return {path for path in paths if path}


def route_access(app: FastAPI) -> dict[tuple[str, str], str]:
    """(method, path) -> the permission the route needs, `AUTHENTICATED` or `PUBLIC`, for every route of the
    app (the OpenAPI document and the docs pages are public). Raises `RouteAccessError` for a route that
    declares no access, or more than one."""
    documentation = _documentation_paths(app)
    table: dict[tuple[str, str], str] = {}
    # Route contexts, not `app.routes`: included routers are resolved (prefixes, router dependencies) lazily.
    for route in iter_route_contexts(app.routes):
        path = route.path or "?"
        if isinstance(route.original_route, APIRoute):
            found = list(_declared(route.dependant))
            if len(found) != 1:
                what = "no access" if not found else f"{len(found)} accesses ({', '.join(found)})"
                raise RouteAccessError(
                    f"route {'/'.join(sorted(route.methods or ()))} {path} declares {what}; give it exactly "
                    'one of Depends(require("<permission>")), Depends(authenticated()) or Depends(public())'
                )
            access = found[0]
        elif isinstance(route.original_route, Route) and path in documentation:
            access = PUBLIC
        else:
            raise RouteAccessError(
                f"route {path!r} is not a FastAPI route, so it cannot declare who may call it; add it with "
                "an APIRouter and a require(...) dependency"
            )
        for method in sorted(route.methods or ()):
            table[(method, path)] = access
    return table
