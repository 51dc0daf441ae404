"""`cxops models gates|promote|approve|history` on the embedded store, as different users."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from cxops.api.app import create_app
from cxops.cli._output import console, err_console
from cxops.cli.main import app
from cxops.config import Settings
from cxops.governance.errors import PermissionDeniedError
from cxops.governance.service import Governance
from cxops.governance.tokens import issue_token
from cxops.registry import ModelVersionRecord
from cxops.serving.thread_server import ThreadServer

MakeVersion = Callable[..., ModelVersionRecord]
runner = CliRunner()


@pytest.fixture
def as_user(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    monkeypatch.setenv("CXOPS_HOME", str(settings.home))
    monkeypatch.setenv("CXOPS_DATABASE_URL", settings.metadata_url)
    # Wide enough that table cells are not wrapped mid-word.
    monkeypatch.setattr(console, "width", 250)
    monkeypatch.setattr(err_console, "width", 250)

    def run(user: str, *args: str) -> object:
        monkeypatch.setenv("CXOPS_ACTOR", user)
        return runner.invoke(app, list(args))

    return run


def test_the_promotion_path_on_the_command_line(as_user, make_version: MakeVersion) -> None:
    version = str(make_version().version)
    staged = as_user("maya", "models", "promote", "churn", version, "--to", "staging", "--reason", "good")
    assert staged.exit_code == 0, staged.output
    assert "candidate → staging" in staged.output and "equal_opportunity_difference" in staged.output

    refused = as_user("maya", "models", "promote", "churn", version, "--to", "production", "--reason", "go")
    assert refused.exit_code == 1
    assert "FAIL" in refused.output and "cxops models approve churn" in refused.output

    dry_run = as_user("maya", "models", "gates", "churn", version, "--to", "production")
    assert dry_run.exit_code == 1 and "approval" in dry_run.output

    approved = as_user("dana", "models", "approve", "churn", version, "--comment", "bias reviewed")
    assert approved.exit_code == 0 and "approved churn:1 → production by dana" in approved.output

    released = as_user("maya", "models", "promote", "churn", version, "--to", "production", "--reason", "go")
    assert released.exit_code == 0 and "staging → production" in released.output

    history = as_user("sam", "models", "history", "churn")
    assert history.exit_code == 0
    assert "dana" in history.output and "candidate" in history.output and "production" in history.output


def test_a_user_without_the_permission_is_refused(as_user, make_version: MakeVersion) -> None:
    version = str(make_version().version)
    args = ("models", "promote", "churn", version, "--to", "staging", "--reason", "x")
    result = as_user("triage-service", *args)
    assert isinstance(result.exception, PermissionDeniedError)
    assert "models.promote" in str(result.exception)


def test_the_same_commands_go_through_the_platform_api(
    as_user, gov: Governance, settings: Settings, make_version: MakeVersion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With CXOPS_API_URL set, the CLI acts as the token holder through the API, whatever CXOPS_ACTOR says."""
    version = str(make_version().version)
    tokens = {
        user: issue_token(gov.registry, user=user, name="cli", issued_by="setup", role="admin")[0]
        for user in ("maya", "dana")
    }
    with ThreadServer(create_app(settings, gov)) as server:
        monkeypatch.setenv("CXOPS_API_URL", server.url)

        def remote(user: str, *args: str) -> object:
            monkeypatch.setenv("CXOPS_API_TOKEN", tokens[user])
            return as_user("nobody", *args)

        staged = remote("maya", "models", "promote", "churn", version, "--to", "staging", "--reason", "good")
        assert staged.exit_code == 0, staged.output
        refused = remote(
            "maya", "models", "promote", "churn", version, "--to", "production", "--reason", "go"
        )
        assert refused.exit_code == 1 and "cxops models approve churn" in refused.output
        assert remote("dana", "models", "approve", "churn", version).exit_code == 0
        released = remote(
            "maya", "models", "promote", "churn", version, "--to", "production", "--reason", "go"
        )
        assert released.exit_code == 0 and "by maya (ml-engineer)" in released.output
    actions = [e.action for e in reversed(gov.registry.audit_events(action="stage"))]
    assert actions == ["stage.changed", "stage.blocked", "stage.changed"]
    assert {e.actor for e in gov.registry.audit_events(action="stage")} == {"maya"}
