"""A governance store with one registered churn version and a token for each named user of
policies/roles.yaml, served by the platform API app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cxops.api.app import create_app
from cxops.config import Settings
from cxops.governance.service import Governance
from cxops.governance.tokens import issue_token, list_tokens

ROLE_OF = {
    "maya": "ml-engineer",
    "sam": "sre",
    "dana": "compliance",
    "triage-service": "app-team",
    "root-admin": "admin",
}
"""The named users of policies/roles.yaml and their one role each."""

AUTHOR = "pipeline-bot"
"""Who registers the test version (not a named user, so any approver may approve it)."""


@dataclass
class World:
    settings: Settings
    gov: Governance
    app: FastAPI
    http: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    """User -> bearer token."""
    role_of: dict[str, str] = field(default_factory=lambda: dict(ROLE_OF))

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def issue(self, user: str, name: str, **kwargs: Any) -> tuple[str, int]:
        token, record = issue_token(
            self.gov.registry, user=user, name=name, issued_by="setup", role="admin", **kwargs
        )
        return token, record.id

    def register(self, model: str = "churn") -> int:
        record = self.gov.registry.register_version(
            model,
            metrics={"roc_auc": 0.9},
            artifacts={},
            params={},
            lineage={},
            owner="cx-analytics",
            team="retention",
            created_by=AUTHOR,
            dataset_version=None,
        )
        return record.version

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a request could change: the audit chain, the tokens, the stages and the approvals."""
        verification = self.gov.registry.verify_audit()
        admin = self.gov.actor("root-admin")
        stages = {
            (v.model, v.version): v.stage
            for summary in self.gov.registry.list_models()
            for v in self.gov.registry.list_versions(summary.name)
        }
        approvals = {m: self.gov.approvals(admin, m) for m, _ in stages}
        return verification.events, verification.head, list_tokens(self.gov.registry), stages, approvals

    def audit_actions(self) -> list[str]:
        return [e.action for e in reversed(self.gov.registry.audit_events(limit=10_000))]


@contextmanager
def _world(tmp_path: Path, database_url: str) -> Iterator[World]:
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    with Governance.from_settings(settings) as gov:
        app = create_app(settings, gov)
        with TestClient(app) as http:
            w = World(settings, gov, app, http)
            w.register()
            for user in ROLE_OF:
                w.tokens[user] = w.issue(user, "test")[0]
            yield w


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """On SQLite and on PostgreSQL."""
    with _world(tmp_path, database_url) as w:
        yield w


@pytest.fixture
def sqlite_world(tmp_path: Path, sqlite_url: str) -> Iterator[World]:
    """On SQLite only, for what does not depend on the database (request validation, the OpenAPI)."""
    with _world(tmp_path, sqlite_url) as w:
        yield w


@dataclass
class _RecordingLauncher:
    """Stands in for the retraining backends: route tests must not start a training pipeline."""

    launched: list[dict[str, Any]] = field(default_factory=list)

    def launch(self, model: str, *, trigger: str, run_name: str, parameters: dict[str, object]) -> Any:
        from cxops.monitoring.launchers import LaunchedRun

        self.launched.append({"model": model, "trigger": trigger, "run_name": run_name, **parameters})
        return LaunchedRun(backend="local", external_id=str(len(self.launched)), run_name=run_name)


@pytest.fixture(autouse=True)
def retrain_launcher(monkeypatch: pytest.MonkeyPatch) -> _RecordingLauncher:
    recording = _RecordingLauncher()
    monkeypatch.setattr("cxops.monitoring.launchers.launcher", lambda *args, **kwargs: recording)
    return recording
