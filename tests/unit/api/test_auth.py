"""Bearer authentication (401 without a valid token, changing nothing) and the token routes."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from cxops.api.access import PUBLIC, route_access
from cxops.governance.tokens import authenticate

if TYPE_CHECKING:
    from tests.unit.api.conftest import World


def _guarded_routes(world: World) -> list[tuple[str, str]]:
    """Every route that needs a token, with its path parameters filled in."""
    values = {"{model}": "churn", "{version}": "1", "{token_id}": "1"}
    routes = []
    for (method, path), access in sorted(route_access(world.app).items()):
        if access != PUBLIC:
            for name, value in values.items():
                path = path.replace(name, value)
            assert "{" not in path, f"give the path parameters of {path} a value in this test"
            routes.append((method, path))
    return routes


def _assert_unauthenticated(world: World, headers: dict[str, str], expected: str) -> None:
    before = world.snapshot()
    for method, path in _guarded_routes(world):
        response = world.http.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["status"] == 401 and error["type"] == "AuthenticationError"
        assert expected in error["message"], error["message"]
    assert world.snapshot() == before


def test_every_guarded_route_needs_a_token(world: World) -> None:
    _assert_unauthenticated(world, {}, "needs an API token")
    _assert_unauthenticated(world, {"Authorization": "Basic bWF5YTpwdw=="}, "needs an API token")


def test_an_unknown_token_is_refused(world: World) -> None:
    _assert_unauthenticated(world, {"Authorization": "Bearer cxo_not-a-real-token"}, "unknown API token")
    _assert_unauthenticated(world, {"Authorization": "Bearer abc"}, "not a CXOps API token")


def test_a_revoked_token_is_refused(world: World) -> None:
    token, token_id = world.issue("root-admin", "laptop")
    headers = {"Authorization": f"Bearer {token}"}
    assert world.http.get("/v1/auth/tokens", headers=headers).status_code == 200
    response = world.http.delete(
        f"/v1/auth/tokens/{token_id}", params={"reason": "laptop lost"}, headers=world.auth("root-admin")
    )
    assert response.status_code == 200 and response.json()["revoked_at"] and not response.json()["active"]
    _assert_unauthenticated(world, headers, "was revoked")


def test_an_expired_token_is_refused(world: World) -> None:
    token, _ = world.issue("root-admin", "old", expires_in=timedelta(seconds=-1))
    _assert_unauthenticated(world, {"Authorization": f"Bearer {token}"}, "expired")


def test_issue_list_and_revoke_are_audited_with_the_acting_role(world: World) -> None:
    response = world.http.post(
        "/v1/auth/tokens",
        json={"user": "sam", "name": "ci", "expires_in_days": 30},
        headers=world.auth("root-admin"),
    )
    assert response.status_code == 201
    issued = response.json()
    token, record = issued["token"], issued["record"]
    assert authenticate(world.gov.registry, token) == "sam"
    assert record["user"] == "sam" and record["created_by"] == "root-admin" and record["active"]
    assert token.startswith(record["prefix"]) and record["expires_at"]

    listed = world.http.get("/v1/auth/tokens", headers=world.auth("root-admin")).json()
    assert record["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)

    revoked = world.http.delete(
        f"/v1/auth/tokens/{record['id']}", params={"reason": "rotated"}, headers=world.auth("root-admin")
    )
    assert revoked.status_code == 200
    events = world.gov.registry.audit_events(action="token.")
    assert [(e.action, e.actor, e.role) for e in events[:2]] == [
        ("token.revoked", "root-admin", "admin"),
        ("token.issued", "root-admin", "admin"),
    ]
    assert events[0].reason == "rotated" and events[0].payload["token_id"] == record["id"]
    assert world.http.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"user": "nobody", "name": "ci"}, "user 'nobody' is not named in policies/roles.yaml"),
        ({"user": "sam", "name": "ci", "expires_in_days": 0}, "body.expires_in_days"),
        ({"user": "sam"}, "body.name: Field required"),
        ({"user": "sam", "name": "ci", "role": "admin"}, "body.role: Extra inputs are not permitted"),
    ],
)
def test_a_bad_token_request_is_422_and_changes_nothing(
    sqlite_world: World, body: dict, message: str
) -> None:
    before = sqlite_world.snapshot()
    response = sqlite_world.http.post("/v1/auth/tokens", json=body, headers=sqlite_world.auth("root-admin"))
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]
    assert sqlite_world.snapshot() == before


def test_revoking_needs_a_reason_and_an_existing_token(sqlite_world: World) -> None:
    admin = sqlite_world.auth("root-admin")
    missing = sqlite_world.http.delete("/v1/auth/tokens/1", headers=admin)
    assert missing.status_code == 422 and "query.reason" in missing.json()["error"]["message"]
    unknown = sqlite_world.http.delete("/v1/auth/tokens/999", params={"reason": "x"}, headers=admin)
    assert unknown.status_code == 404 and "no API token with id 999" in unknown.json()["error"]["message"]


def test_an_unknown_route_answers_the_error_shape(sqlite_world: World) -> None:
    response = sqlite_world.http.get("/v1/nope", headers=sqlite_world.auth("maya"))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no route GET /v1/nope; /docs lists the routes"
