"""Every route of the app × every role: refused (403) exactly when the role lacks the route's declared
permission, and a refused request changes nothing. Routes and their permissions are read from the app, so
a new route is covered (or fails here) without editing this file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from cxops.api.access import AUTHENTICATED, PUBLIC, public, require, route_access
from cxops.api.app import create_app
from cxops.api.errors import RouteAccessError
from cxops.config import Settings
from cxops.governance.policy import load_roles_policy

if TYPE_CHECKING:
    from tests.unit.api.conftest import World


def _request(world: World, method: str, path: str, values: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL and keyword arguments of a valid-looking call, from the route's OpenAPI operation: path
    parameters from `values`, required query parameters and bodies from their documented examples."""
    operation = world.app.openapi()["paths"][path][method.lower()]
    url, params = path, {}
    for parameter in operation.get("parameters", []):
        name = parameter["name"]
        if parameter["in"] == "path":
            assert name in values, f"{method} {path}: give path parameter {name!r} a value in this test"
            url = url.replace("{" + name + "}", str(values[name]))
        elif parameter.get("required"):
            examples = parameter["schema"].get("examples")
            assert examples, f"{method} {path}: document an example of required query parameter {name!r}"
            params[name] = examples[0]
    kwargs: dict[str, Any] = {"params": params}
    body = operation.get("requestBody")
    if body is not None:
        ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        examples = world.app.openapi()["components"]["schemas"][ref].get("examples")
        assert examples, f"{method} {path}: document an example of its body {ref}"
        kwargs["json"] = examples[0]
    return url, kwargs


def test_every_route_refuses_exactly_the_roles_without_its_permission(world: World) -> None:
    roles = load_roles_policy(world.settings)
    table = route_access(world.app)
    victim = world.issue("triage-service", "to-revoke")[1]
    values = {"model": "churn", "version": 1, "token_id": victim}
    documented = {(m.upper(), p) for p, ops in world.app.openapi()["paths"].items() for m in ops}
    assert {key for key, access in table.items() if access != PUBLIC} <= documented
    assert len(table) >= 15
    problems = []
    for (method, path), access in sorted(table.items()):
        if access == PUBLIC:
            continue
        url, kwargs = _request(world, method, path, values)
        for user, role in world.role_of.items():
            allowed = access == AUTHENTICATED or roles.roles[role].grants(access)
            before = world.snapshot()
            response = world.http.request(method, url, headers=world.auth(user), **kwargs)
            where = f"{method} {path} as {user} ({role}, route needs {access})"
            if not allowed:
                error = response.json().get("error", {})
                if response.status_code != 403 or access not in error.get("message", ""):
                    problems.append(f"{where}: expected 403 naming {access}, got {response.status_code}")
                if world.snapshot() != before:
                    problems.append(f"{where}: refused, yet the store changed")
            elif response.status_code in (401, 403) or response.status_code >= 500:
                problems.append(f"{where}: allowed, got {response.status_code} {response.text[:300]}")
    assert not problems, "\n".join(problems)


def test_public_routes_answer_without_a_token(sqlite_world: World) -> None:
    public_routes = [key for key, access in route_access(sqlite_world.app).items() if access == PUBLIC]
    assert ("GET", "/healthz") in public_routes and ("GET", "/openapi.json") in public_routes
    for method, path in public_routes:
        assert sqlite_world.http.request(method, path).status_code == 200, (method, path)
    assert sqlite_world.http.get("/healthz").json()["status"] == "ok"


def test_whoami_names_the_user_and_roles(sqlite_world: World) -> None:
    body = sqlite_world.http.get("/v1/whoami", headers=sqlite_world.auth("dana")).json()
    assert body["name"] == "dana" and body["roles"] == ["compliance"]
    assert "models.approve" in body["permissions"] and "models.promote" not in body["permissions"]


def test_a_route_without_a_declared_permission_is_refused(sqlite_world: World) -> None:
    app = create_app(sqlite_world.settings, sqlite_world.gov)

    @app.get("/v1/undeclared")
    def undeclared() -> dict[str, str]:
        return {}

    with pytest.raises(RouteAccessError, match="GET /v1/undeclared declares no access"):
        route_access(app)


def test_a_route_with_two_declarations_is_refused(tmp_path) -> None:
    app = FastAPI()

    @app.get("/both", dependencies=[Depends(public()), Depends(require("models.read"))])
    def both() -> None:
        return None

    with pytest.raises(RouteAccessError, match="2 accesses"):
        route_access(app)


def test_an_unknown_permission_is_refused_when_the_route_is_written() -> None:
    with pytest.raises(RouteAccessError, match="unknown permission 'models.reed'"):
        require("models.reed")


def test_the_openapi_documents_bearer_auth_and_errors(sqlite_world: World) -> None:
    doc = sqlite_world.http.get("/openapi.json").json()
    assert doc["info"]["title"] == "CXOps platform API" and doc["info"]["version"]
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    promote = doc["paths"]["/v1/models/{model}/versions/{version}/promote"]["post"]
    assert promote["security"] == [{"HTTPBearer": []}]
    assert promote["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorOut")
    assert "security" not in doc["paths"]["/healthz"]["get"]
    assert sqlite_world.http.get("/docs").status_code == 200


def test_the_app_opens_and_closes_its_own_store(tmp_path) -> None:
    app = create_app(Settings(home=tmp_path / "home"))
    with TestClient(app) as http:
        assert http.get("/healthz").status_code == 200
        assert http.get("/v1/models").status_code == 401
