"""`cxops auth ...` and `cxops api serve`: embedded (as CXOPS_ACTOR) and through the platform API (as the
holder of CXOPS_API_TOKEN), with the same refusals and messages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cxops.api.app import create_app
from cxops.cli import api as api_cli
from cxops.cli import auth as auth_cli
from cxops.config import get_settings
from cxops.governance.errors import PermissionDeniedError
from cxops.governance.service import Governance
from cxops.governance.tokens import authenticate, issue_token
from cxops.serving.thread_server import ThreadServer

# As cxops.cli.main registers them.
cli = typer.Typer()
cli.add_typer(api_cli.app, name="api")
cli.add_typer(auth_cli.app, name="auth")
runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Governance]:
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CXOPS_DATABASE_URL", database_url)
    monkeypatch.setenv("CXOPS_ACTOR", "root-admin")
    monkeypatch.delenv("CXOPS_API_URL", raising=False)
    monkeypatch.delenv("CXOPS_API_TOKEN", raising=False)
    with Governance.from_settings(get_settings()) as gov:
        yield gov


def test_embedded_issue_prints_the_token_once_and_records_it(store: Governance) -> None:
    result = runner.invoke(
        cli, ["auth", "issue", "--user", "maya", "--name", "laptop", "--expires-in-days", "7"]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert authenticate(store.registry, token) == "maya"
    assert "only time the token is shown" in result.stderr and token not in result.stderr
    event = store.registry.audit_events(action="token.issued")[0]
    assert (event.actor, event.role, event.payload["user"]) == ("root-admin", "admin", "maya")

    listed = runner.invoke(cli, ["auth", "list", "--json"])
    assert listed.exit_code == 0 and '"user": "maya"' in listed.stdout and token not in listed.stdout

    revoked = runner.invoke(cli, ["auth", "revoke", "1", "--reason", "laptop lost"])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert store.registry.audit_events(action="token.revoked")[0].reason == "laptop lost"
    assert "revoked" in runner.invoke(cli, ["auth", "list"]).stdout


def test_embedded_refusal_changes_nothing(store: Governance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXOPS_ACTOR", "maya")
    before = store.registry.verify_audit()
    result = runner.invoke(cli, ["auth", "issue", "--user", "maya", "--name", "escalate"])
    assert isinstance(result.exception, PermissionDeniedError)
    assert "user 'maya' (ml-engineer) may not do 'auth.manage'" in str(result.exception)
    assert store.registry.verify_audit() == before


def test_remote_mode_acts_as_the_token_holder(store: Governance, monkeypatch: pytest.MonkeyPatch) -> None:
    admin_token, _ = issue_token(
        store.registry, user="root-admin", name="ops", issued_by="setup", role="admin"
    )
    maya_token, _ = issue_token(store.registry, user="maya", name="ops", issued_by="setup", role="admin")
    monkeypatch.setenv("CXOPS_ACTOR", "nobody")  # remote mode ignores the local actor
    with ThreadServer(create_app(get_settings(), store)) as server:
        monkeypatch.setenv("CXOPS_API_URL", server.url)
        monkeypatch.setenv("CXOPS_API_TOKEN", admin_token)
        result = runner.invoke(cli, ["auth", "issue", "--user", "sam", "--name", "ci"])
        assert result.exit_code == 0, result.output
        assert authenticate(store.registry, result.stdout.strip()) == "sam"
        assert runner.invoke(cli, ["auth", "revoke", "3", "--reason", "rotated"]).exit_code == 0

        monkeypatch.setenv("CXOPS_API_TOKEN", maya_token)
        refused = runner.invoke(cli, ["auth", "list"])
    events = store.registry.audit_events(action="token.")
    assert [(e.action, e.actor, e.role) for e in events[:2]] == [
        ("token.revoked", "root-admin", "admin"),
        ("token.issued", "root-admin", "admin"),
    ]
    assert isinstance(refused.exception, PermissionDeniedError)
    monkeypatch.setenv("CXOPS_ACTOR", "maya")
    monkeypatch.delenv("CXOPS_API_URL")
    embedded = runner.invoke(cli, ["auth", "list"])
    assert str(refused.exception) == str(embedded.exception)


def test_api_serve_passes_host_and_port(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path / "home"))
    calls = []
    monkeypatch.setattr("cxops.api.server.serve", lambda settings, host, port: calls.append((host, port)))
    assert runner.invoke(cli, ["api", "serve"]).exit_code == 0
    result = runner.invoke(cli, ["api", "serve", "--host", "0.0.0.0", "--port", "9000"])
    assert result.exit_code == 0 and "plain HTTP" in result.stderr
    assert calls == [("127.0.0.1", 8700), ("0.0.0.0", 9000)]
