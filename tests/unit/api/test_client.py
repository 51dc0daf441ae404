"""The HTTP client against a real server on a real port: promotion, approval and demotion round trips, and
every error raised as the same `CXOpsError` subclass, with the same message, as in embedded mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from cxops.api.client import PlatformClient, client_from_settings, error_from_response
from cxops.config import Settings
from cxops.errors import CXOpsError, InvalidInputError
from cxops.governance.errors import (
    AuthenticationError,
    GateFailedError,
    GovernanceInputError,
    PermissionDeniedError,
)
from cxops.registry import RegistryNotFoundError, Stage
from cxops.serving.thread_server import ThreadServer

if TYPE_CHECKING:
    from tests.unit.api.conftest import World


@pytest.fixture
def server(world: World) -> Iterator[str]:
    with ThreadServer(world.app) as running:
        yield running.url


@pytest.fixture
def clients(world: World, server: str) -> Iterator[dict[str, PlatformClient]]:
    made = {user: PlatformClient(server, world.tokens[user]) for user in world.role_of}
    yield made
    for client in made.values():
        client.close()


def _embedded_error(call) -> CXOpsError:
    with pytest.raises(CXOpsError) as caught:
        call()
    return caught.value


def test_a_failing_gate_is_409_with_every_gate_row(world: World, clients: dict[str, PlatformClient]) -> None:
    with pytest.raises(GateFailedError) as remote:
        clients["maya"].promote("churn", 1, "staging", reason="looks good")
    maya = world.gov.actor("maya")
    embedded = _embedded_error(lambda: world.gov.promote(maya, "churn", 1, "staging", reason="looks good"))
    assert remote.value.status_code == 409 and str(remote.value) == str(embedded)
    assert remote.value.gates == embedded.gates  # type: ignore[attr-defined]
    failed = {g["gate"] for g in remote.value.gates if not g["passed"]}
    assert {"data_validation", "metrics", "bias"} <= failed
    assert all(set(g) == {"gate", "check", "required", "actual", "passed", "fix"} for g in remote.value.gates)
    assert clients["maya"].get_version("churn", 1).stage == Stage.CANDIDATE
    blocked = clients["dana"].audit_log(action="stage.blocked", actor="maya")
    assert len(blocked) == 2 and blocked[0].payload["to"] == "staging"


def test_gates_dry_run_records_nothing(world: World, clients: dict[str, PlatformClient]) -> None:
    before = world.snapshot()
    report = clients["triage-service"].check_gates("churn", 1, "staging")
    assert report.from_stage == Stage.CANDIDATE and report.to_stage == Stage.STAGING and not report.passed
    assert [g.gate for g in report.gates][:2] == ["ownership", "ownership"]
    assert world.snapshot() == before


def test_override_approval_and_demotion_round_trip(world: World, clients: dict[str, PlatformClient]) -> None:
    admin, dana, sam = clients["root-admin"], clients["dana"], clients["sam"]
    with pytest.raises(PermissionDeniedError, match="'models.override'"):
        clients["maya"].promote("churn", 1, "staging", reason="trust me", override=True)

    staged = admin.promote("churn", 1, "staging", reason="hotfix, validation rerun tomorrow", override=True)
    assert (staged.from_stage, staged.to_stage, staged.override) == ("candidate", "staging", True)
    assert any(not g.passed for g in staged.gates)
    overridden = dana.audit_log(action="stage.overridden")
    assert [(e.actor, e.role, e.version) for e in overridden] == [("root-admin", "admin", 1)]

    with pytest.raises(PermissionDeniedError, match="'models.approve'"):
        clients["maya"].approve("churn", 1, "production")
    approval = dana.approve("churn", 1, "production", comment="bias report reviewed")
    assert (approval.approver, approval.role, approval.target_stage) == ("dana", "compliance", "production")
    assert approval.used_by is None and approval.expires_at > approval.created_at

    released = admin.promote("churn", 1, "production", reason="approved release", override=True)
    assert released.to_stage == Stage.PRODUCTION and [a["id"] for a in released.approvals] == [approval.id]
    assert dana.approvals("churn", 1)[0].used_by == released.id

    archived = sam.promote("churn", 1, "archived", reason="drift alarm")
    assert (archived.from_stage, archived.to_stage) == ("production", "archived")
    assert archived.gates == [] and not archived.override

    world.register()
    admin.promote("churn", 2, "staging", reason="for the demotion check", override=True)
    demoted = sam.promote("churn", 2, "archived", reason="superseded")
    assert demoted.from_stage == Stage.STAGING and demoted.gates == []

    history = clients["triage-service"].history("churn")
    assert [(t.version, t.from_stage, t.to_stage) for t in history] == [
        (1, "candidate", "staging"),
        (1, "staging", "production"),
        (1, "production", "archived"),
        (2, "candidate", "staging"),
        (2, "staging", "archived"),
    ]
    assert [v.stage for v in admin.list_versions("churn")] == [Stage.ARCHIVED, Stage.ARCHIVED]
    summary = admin.list_models()[0]
    assert summary.name == "churn" and summary.versions == 2 and summary.stages == {Stage.ARCHIVED: 2}
    verification = dana.verify_audit()
    assert verification.ok and verification.events == len(world.audit_actions())


def test_errors_keep_their_class_and_message(world: World, clients: dict[str, PlatformClient]) -> None:
    maya, actor = clients["maya"], world.gov.actor("maya")
    with pytest.raises(RegistryNotFoundError) as missing:
        maya.get_version("churn", 7)
    assert str(missing.value) == str(_embedded_error(lambda: world.gov.get_version(actor, "churn", 7)))

    with pytest.raises(GovernanceInputError) as disallowed:
        maya.promote("churn", 1, "production", reason="skip staging")
    embedded = _embedded_error(lambda: world.gov.promote(actor, "churn", 1, "production", reason="x"))
    assert str(disallowed.value) == str(embedded) and disallowed.value.status_code == 422

    with pytest.raises(PermissionDeniedError) as refused:
        clients["triage-service"].verify_audit()
    app_team = world.gov.actor("triage-service")
    assert str(refused.value) == str(_embedded_error(lambda: world.gov.verify_audit(app_team)))

    with pytest.raises(InvalidInputError, match="body.to: Input should be"):
        maya.promote("churn", 1, "heaven", reason="x")


def test_a_client_without_a_valid_token_is_refused(server: str) -> None:
    with PlatformClient(server, "cxo_forged") as client:
        assert client.health().status == "ok"
        with pytest.raises(AuthenticationError, match="unknown API token"):
            client.whoami()
    with (
        PlatformClient(server, None) as client,
        pytest.raises(AuthenticationError, match="needs an API token"),
    ):
        client.list_models()


def test_an_unreachable_api_is_a_clear_error() -> None:
    from cxops.serving.server import free_port

    client = PlatformClient(f"http://127.0.0.1:{free_port()}", "cxo_x", timeout=5)
    with client, pytest.raises(CXOpsError, match="cannot reach the CXOps API") as caught:
        client.list_models()
    assert caught.value.status_code == 503


def test_a_non_json_error_keeps_its_status() -> None:
    request = httpx.Request("GET", "http://proxy/v1/models")
    error = error_from_response(httpx.Response(502, text="<html>Bad Gateway</html>", request=request))
    assert type(error) is CXOpsError and error.status_code == 502 and "Bad Gateway" in str(error)


def test_an_unknown_error_class_falls_back_on_its_status() -> None:
    body = {"error": {"status": 404, "message": "no lineage", "type": "LineageMissingError"}}
    error = error_from_response(httpx.Response(404, json=body, request=httpx.Request("GET", "http://x/")))
    assert isinstance(error, CXOpsError) and error.status_code == 404 and str(error) == "no lineage"


def test_client_from_settings(tmp_path: Path) -> None:
    assert client_from_settings(Settings(home=tmp_path)) is None
    with pytest.raises(AuthenticationError, match="CXOPS_API_TOKEN is not"):
        client_from_settings(Settings(home=tmp_path, api_url="http://127.0.0.1:8700"))
    client = client_from_settings(
        Settings(home=tmp_path, api_url="http://127.0.0.1:8700/", api_token="cxo_x")
    )
    assert client is not None and client.base_url == "http://127.0.0.1:8700"
    client.close()
