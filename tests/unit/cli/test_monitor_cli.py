"""`cxops monitor alerts|runs|retrain|report` on the embedded metadata store, acting as CXOPS_ACTOR.
Retrainings go to a launcher that records what it was asked to start; the drift monitor's results are
given to the report command as its client would read them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cxops.cli import monitor
from cxops.config import Settings
from cxops.governance.errors import PermissionDeniedError
from cxops.governance.service import Governance
from cxops.monitoring import launchers
from cxops.monitoring.client import DriftMonitorClient
from cxops.monitoring.launchers import LaunchedRun
from cxops.monitoring.service import MonitoringService

runner = CliRunner()


@dataclass
class _Launcher:
    calls: list[str] = field(default_factory=list)

    def launch(
        self, model: str, *, trigger: str, run_name: str, parameters: dict[str, object]
    ) -> LaunchedRun:
        self.calls.append(trigger)
        return LaunchedRun("local", str(7000 + len(self.calls)), run_name, None, "started")


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> _Launcher:
    recording = _Launcher()
    monkeypatch.setattr(launchers, "launcher", lambda settings, **_: recording)
    return recording


@pytest.fixture
def gov(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Governance]:
    """The store the CLI opens (CXOPS_HOME, CXOPS_DATABASE_URL) with churn:1; the CLI acts as maya."""
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CXOPS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("CXOPS_ACTOR", "maya")
    monkeypatch.setattr(monitor.console, "width", 250)  # tables unwrapped, as on a wide terminal
    with Governance.from_settings(Settings(home=tmp_path / "home", database_url=sqlite_url)) as opened:
        opened.registry.register_version(
            "churn",
            metrics={},
            artifacts={},
            params={},
            lineage={},
            owner="o",
            team="t",
            created_by="pipeline-bot",
            dataset_version=None,
        )
        yield opened


def _result(verdict: str = "drift", **changes: Any) -> dict[str, Any]:
    return {
        "seq": 1,
        "id": str(uuid.uuid4()),
        "model": "churn",
        "version": "1",
        "created_at": "2026-12-07T17:00:00Z",
        "verdict": verdict,
        "window": {"start": "2026-12-07T16:00:00Z", "end": "2026-12-07T17:00:00Z", "rows": 300},
        "detector": "TabularDrift",
        "threshold": 0.0125,
        "features": [{"name": "tenure", "test": "ks", "statistic": 0.3, "p_value": 1e-6, "drift": True}],
        "drifted_features": ["tenure", "Contract"] if verdict == "drift" else [],
        "quality": {
            "failed": verdict == "data_quality",
            "reasons": ["[bold]tenure[/] nulls"],
            "violations": {},
        },
    } | changes


def _lines(output: str, word: str) -> list[str]:
    return [line for line in output.splitlines() if word in line]


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("│").split("│")]


def test_alerts_and_runs_print_one_row_each(gov: Governance, launcher: _Launcher) -> None:
    service = MonitoringService(gov)
    retrained = service.receive_drift_result(service.monitor(), _result())
    paged = service.receive_drift_result(service.monitor(), _result("data_quality"))
    assert retrained is not None and paged is not None

    shown = runner.invoke(monitor.app, ["alerts"])
    assert shown.exit_code == 0, shown.output
    [first] = _lines(shown.stdout, "retrain → run 1")
    assert _cells(first)[0] == "1" and "churn:1" in first and "drift on churn:1 over 300 requests" in first
    [second] = _lines(shown.stdout, "page_data_engineering")
    assert "data_quality" in second and "[bold]tenure[/] nulls" in second  # markup in a summary is text
    assert shown.stdout.index("page_data_engineering") < shown.stdout.index("retrain → run 1")  # newest first
    assert "churn:1" not in runner.invoke(monitor.app, ["alerts", "intent"]).stdout

    listed = runner.invoke(monitor.app, ["runs", "churn"])
    assert listed.exit_code == 0, listed.output
    [row] = _lines(listed.stdout, f"alert:{retrained.id}")
    assert _cells(row)[:6] == ["1", "churn", f"alert:{retrained.id}", "local", "running", "-"]


def test_runs_close_the_run_whose_version_was_registered(gov: Governance, launcher: _Launcher) -> None:
    service = MonitoringService(gov)
    alert = service.receive_drift_result(service.monitor(), _result())
    assert alert is not None
    gov.registry.register_version(
        "churn",
        metrics={},
        artifacts={},
        params={},
        lineage={"trigger": "retrain:1"},
        owner="o",
        team="t",
        created_by="pipeline-bot",
        dataset_version=None,
    )
    listed = runner.invoke(monitor.app, ["runs"])
    assert listed.exit_code == 0, listed.output
    [row] = _lines(listed.stdout, "alert:")
    assert _cells(row)[4:6] == ["succeeded", "2"]


def test_retrain_needs_a_reason_and_starts_a_run(gov: Governance, launcher: _Launcher) -> None:
    missing = runner.invoke(monitor.app, ["retrain", "churn"])
    assert missing.exit_code == 2 and "Missing option '--reason'" in missing.output
    assert launcher.calls == []

    started = runner.invoke(monitor.app, ["retrain", "churn", "--reason", "new tariff"])
    assert started.exit_code == 0, started.output
    assert started.stdout.strip() == "retraining run 1 of churn started (local: 7001)"
    assert launcher.calls == ["retrain:1"]
    again = runner.invoke(monitor.app, ["retrain", "churn", "--reason", "again"])
    assert again.exit_code == 1 and "retraining run 1 of 'churn' is still running" in str(again.exception)


def test_retrain_is_refused_without_the_permission(
    gov: Governance, launcher: _Launcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXOPS_ACTOR", "sam")
    refused = runner.invoke(monitor.app, ["retrain", "churn", "--reason", "new tariff"])
    assert isinstance(refused.exception, PermissionDeniedError)
    assert "monitoring.retrain" in str(refused.exception) and launcher.calls == []


def test_report_writes_the_latest_window_of_the_model(
    gov: Governance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "artifacts" / "churn-1" / "drift"
    bundle.mkdir(parents=True)
    (bundle / "monitor.json").write_text(json.dumps({"p_value": 0.05, "reference_rows": 1000}))
    gov.registry.add_artifacts("churn", 1, {"drift_reference": str(bundle)})
    asked: list[dict[str, Any]] = []
    results = [_result("no_drift", seq=1), _result(seq=2)]

    def read(self: DriftMonitorClient, **query: Any) -> list[dict[str, Any]]:
        asked.append(query)
        return results if query["model"] == "churn" else []

    monkeypatch.setattr(DriftMonitorClient, "results", read)
    out = tmp_path / "drift.html"
    written = runner.invoke(monitor.app, ["report", "churn", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert written.stdout.replace("\n", "").strip() == f"wrote {out}"
    assert asked == [{"model": "churn", "version": None, "after": 0, "limit": 1000}]
    html = out.read_text()
    assert "Drift report — churn:1" in html and html.count("<td class='ok'>no_drift</td>") == 1

    empty = runner.invoke(monitor.app, ["report", "intent"])
    assert empty.exit_code == 1
    assert (
        "the drift monitor has no tested window of intent; send traffic through the gateway" in empty.output
    )
