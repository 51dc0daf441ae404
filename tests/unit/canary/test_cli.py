"""`cxops canary ...` and `cxops rollback` on the embedded store, as an SRE and as others."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxops.cli._output import console, err_console
from cxops.cli.main import app
from cxops.config import Settings
from cxops.governance.errors import PermissionDeniedError
from cxops.registry import Registry, Stage

runner = CliRunner()


@pytest.fixture
def store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, place_version: Callable[..., int]
) -> Iterator[Registry]:
    settings = Settings(home=tmp_path / "home")
    monkeypatch.setenv("CXOPS_HOME", str(settings.home))
    monkeypatch.setattr(console, "width", 250)
    monkeypatch.setattr(err_console, "width", 250)
    registry = Registry(settings.metadata_url)
    for stage in (Stage.PRODUCTION, Stage.STAGING):
        place_version(registry, stage)
    yield registry
    registry.close()


def run(monkeypatch: pytest.MonkeyPatch, user: str, *args: str):
    monkeypatch.setenv("CXOPS_ACTOR", user)
    return runner.invoke(app, list(args))


def test_an_sre_runs_a_canary_by_hand(
    store: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    started = run(
        monkeypatch,
        "sam",
        "canary",
        "start",
        "churn",
        "--version",
        "2",
        "--steps",
        "10,50",
        "--interval",
        "2m",
    )
    assert started.exit_code == 0, started.output
    assert "v2 gets 10% of live traffic (stable v1), running" in started.output
    moved = run(monkeypatch, "sam", "canary", "set", "churn", "25", "--reason", "steady")
    assert moved.exit_code == 0 and "25%" in moved.output
    status = run(monkeypatch, "maya", "canary", "status", "--json")
    assert json.loads(status.output)[0]["percent"] == 25.0
    refused = run(monkeypatch, "sam", "canary", "promote", "churn", "--reason", "done")
    assert refused.exit_code == 1 and "approval" in refused.output  # gates first: the canary goes on
    rolled = run(monkeypatch, "sam", "rollback", "churn", "--reason", "latency up")
    assert rolled.exit_code == 0 and "rolled_back" in rolled.output
    report = run(monkeypatch, "dana", "canary", "report", "churn", "--plot", str(tmp_path / "c.png"))
    assert report.exit_code == 0 and "outcome: latency up" in report.output
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    actions = [e.action for e in store.audit_events(action="deployment.")]
    assert actions == ["deployment.rolled_back", "deployment.traffic_set", "deployment.canary_started"]


def test_others_may_not_start_one(store: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(monkeypatch, "maya", "canary", "start", "churn", "--version", "2")
    assert isinstance(result.exception, PermissionDeniedError)
    assert store.audit_events(action="deployment.") == []


def test_bad_arguments_are_explained(store: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    bad_interval = run(monkeypatch, "sam", "canary", "start", "churn", "--version", "2", "--interval", "soon")
    assert bad_interval.exit_code == 2 and "write 90s, 10m or 1h" in bad_interval.output
    bad_steps = run(monkeypatch, "sam", "canary", "start", "churn", "--version", "2", "--steps", "a,b")
    assert bad_steps.exit_code == 2 and "5,25,50,100" in bad_steps.output


def test_rollback_to_a_version_that_never_served_changes_nothing(
    store: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(monkeypatch, "sam", "canary", "start", "churn", "--version", "2")
    result = run(monkeypatch, "sam", "rollback", "churn", "--to-version", "2", "--reason", "bad")
    assert "never been in production" in str(result.exception)
    assert [e.action for e in store.audit_events(action="deployment.")] == ["deployment.canary_started"]
