"""The monitoring routes: the drift monitor's alert webhook (role `monitor`), alerts and retraining runs for
every reader, and a retraining started by hand (`monitoring.retrain`). Retrainings go to a launcher that
records what it was asked to start."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from cxops.monitoring import launchers
from cxops.monitoring.launchers import LaunchedRun
from cxops.monitoring.service import MonitoringService

if TYPE_CHECKING:
    from tests.unit.api.conftest import World


@dataclass
class _Launcher:
    calls: list[tuple[str, str]] = field(default_factory=list)

    def launch(
        self, model: str, *, trigger: str, run_name: str, parameters: dict[str, object]
    ) -> LaunchedRun:
        self.calls.append((model, trigger))
        return LaunchedRun("local", str(5000 + len(self.calls)), run_name, None, "started")


@pytest.fixture
def launcher(monkeypatch: pytest.MonkeyPatch) -> _Launcher:
    """Every service the routes build gets this launcher for the configured backend."""
    recording = _Launcher()
    monkeypatch.setattr(launchers, "launcher", lambda settings, **_: recording)
    return recording


def _result(
    verdict: str = "drift", drifted: tuple[str, ...] = ("tenure", "Contract", "MonthlyCharges")
) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "model": "churn",
        "version": "1",
        "verdict": verdict,
        "window": {"rows": 300, "index": 0},
        "drifted_features": list(drifted) if verdict == "drift" else [],
        "quality": {"failed": verdict == "data_quality", "reasons": ["tenure: 9% nulls"]},
    }


def _monitor(world: World) -> dict[str, str]:
    token = world.issue("drift-monitor", "alerts")[0]
    return {"Authorization": f"Bearer {token}"}


def test_the_webhook_records_an_alert_once_and_answers_what_the_policy_did(
    world: World, launcher: _Launcher
) -> None:
    monitor = _monitor(world)
    result = _result()
    answer = world.http.post(
        "/v1/monitoring/alerts", json={"source": "cxops-drift", "result": result}, headers=monitor
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["recorded"] is True
    alert = body["alert"]
    assert (alert["model"], alert["version"], alert["kind"], alert["source_id"]) == (
        "churn",
        1,
        "drift",
        result["id"],
    )
    assert alert["action"] == "retrain" and alert["retrain_run_id"] == 1
    assert launcher.calls == [("churn", "retrain:1")]

    resent = world.http.post("/v1/monitoring/alerts", json={"result": result}, headers=monitor)
    assert resent.status_code == 200 and resent.json()["alert"]["id"] == alert["id"]
    assert world.audit_actions().count("monitoring.drift_detected") == 1

    # Readers see the alert and the run it started.
    alerts = world.http.get("/v1/monitoring/alerts", headers=world.auth("triage-service"))
    assert alerts.status_code == 200 and [a["id"] for a in alerts.json()] == [alert["id"]]
    assert world.http.get("/v1/monitoring/alerts?model=intent", headers=world.auth("dana")).json() == []
    runs = world.http.get("/v1/monitoring/retrains", headers=world.auth("sam"))
    assert runs.status_code == 200
    [run] = runs.json()
    assert (run["id"], run["trigger"], run["status"], run["external_id"]) == (
        1,
        f"alert:{alert['id']}",
        "running",
        "5001",
    )

    # While it runs, a retraining by hand is refused with the running run named.
    refused = world.http.post(
        "/v1/models/churn/retrain", json={"reason": "new tariff"}, headers=world.auth("maya")
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "retraining run 1 of 'churn' is still running; wait for it (`cxops monitor runs churn`)"
    )
    MonitoringService(world.gov).finish_run(1, status="failed", detail="out of memory")
    started = world.http.post(
        "/v1/models/churn/retrain", json={"reason": "new tariff"}, headers=world.auth("maya")
    )
    assert started.status_code == 200, started.text
    assert (started.json()["id"], started.json()["trigger"], started.json()["started_by"]) == (
        2,
        "manual:new tariff",
        "maya",
    )
    assert launcher.calls[-1] == ("churn", "retrain:2")


def test_only_the_monitor_may_post_alerts(sqlite_world: World, launcher: _Launcher) -> None:
    before = sqlite_world.snapshot()
    body = {"result": _result()}
    for user in ("triage-service", "maya", "sam"):
        answer = sqlite_world.http.post("/v1/monitoring/alerts", json=body, headers=sqlite_world.auth(user))
        assert answer.status_code == 403, user
        assert "monitoring.alert" in answer.json()["error"]["message"]
    assert sqlite_world.http.post("/v1/monitoring/alerts", json=body).status_code == 401
    assert sqlite_world.snapshot() == before and launcher.calls == []
    assert (
        sqlite_world.http.get("/v1/monitoring/alerts", headers=sqlite_world.auth("root-admin")).json() == []
    )


def test_the_webhook_answers_no_drift_and_refuses_what_it_cannot_use(
    sqlite_world: World, launcher: _Launcher
) -> None:
    monitor = _monitor(sqlite_world)
    quiet = sqlite_world.http.post(
        "/v1/monitoring/alerts", json={"result": _result("no_drift")}, headers=monitor
    )
    assert quiet.status_code == 200 and quiet.json() == {"recorded": False, "alert": None}
    quality = sqlite_world.http.post(
        "/v1/monitoring/alerts", json={"result": _result("data_quality")}, headers=monitor
    )
    assert quality.json()["alert"]["action"] == "page_data_engineering" and launcher.calls == []

    unknown = sqlite_world.http.post(
        "/v1/monitoring/alerts", json={"result": _result() | {"verdict": "alarm"}}, headers=monitor
    )
    assert unknown.status_code == 422 and "verdict 'alarm' is unknown" in unknown.json()["error"]["message"]
    elsewhere = sqlite_world.http.post(
        "/v1/monitoring/alerts", json={"result": _result() | {"model": "sentiment"}}, headers=monitor
    )
    assert elsewhere.status_code == 404 and "no model 'sentiment'" in elsewhere.json()["error"]["message"]
    extra = sqlite_world.http.post(
        "/v1/monitoring/alerts", json={"result": _result(), "severity": "high"}, headers=monitor
    )
    assert extra.status_code == 422 and "severity" in extra.json()["error"]["message"]


def test_a_retraining_by_hand_needs_the_permission_and_a_reason(
    sqlite_world: World, launcher: _Launcher
) -> None:
    url = "/v1/models/churn/retrain"
    assert (
        sqlite_world.http.post(url, json={"reason": "x"}, headers=sqlite_world.auth("sam")).status_code == 403
    )
    empty = sqlite_world.http.post(url, json={"reason": ""}, headers=sqlite_world.auth("maya"))
    assert empty.status_code == 422 and "reason" in empty.json()["error"]["message"]
    missing = sqlite_world.http.post(
        "/v1/models/nope/retrain", json={"reason": "x"}, headers=sqlite_world.auth("maya")
    )
    assert missing.status_code == 404 and launcher.calls == []
