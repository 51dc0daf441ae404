"""Alerts and the retraining runs they start, on SQLite and PostgreSQL: recorded once, audited, decided by
the shipped policies/monitoring.yaml, launched through the configured launcher."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from cxops.canary.events import EVENT_RESPONSE, EventLog, inference_event, log_root
from cxops.canary.service import CanaryService
from cxops.config import Settings
from cxops.errors import NotFoundError
from cxops.governance.errors import PermissionDeniedError
from cxops.governance.service import Governance
from cxops.monitoring import launchers
from cxops.monitoring.errors import (
    MonitoringConflictError,
    MonitoringError,
    MonitoringInvalidError,
    MonitoringNotFoundError,
)
from cxops.monitoring.outcomes import OutcomeIn, OutcomeService
from cxops.monitoring.service import MonitoringService
from cxops.registry import Stage
from cxops.registry._schema import RetrainRun


@pytest.fixture
def gov(tmp_path: Path, database_url: str) -> Iterator[Governance]:
    """On SQLite and PostgreSQL: for what the database does (uniqueness, times, JSON, the runs' states)."""
    with Governance.from_settings(Settings(home=tmp_path / "home", database_url=database_url)) as opened:
        yield opened


@pytest.fixture
def sqlite_gov(tmp_path: Path, sqlite_url: str) -> Iterator[Governance]:
    """On SQLite only: for checks made before anything is written, and for wiring."""
    with Governance.from_settings(Settings(home=tmp_path / "home", database_url=sqlite_url)) as opened:
        yield opened


def _service(gov: Governance, launcher: Any, add_version: Any) -> MonitoringService:
    for model in ("churn", "intent", "sentiment"):
        add_version(gov.registry, model)
    return MonitoringService(gov, launcher_factory=lambda: launcher)


@pytest.fixture
def service(gov: Governance, recording_launcher: Any, add_version: Any) -> MonitoringService:
    """churn:1, intent:1 and sentiment:1 registered; retrainings go to the recording launcher."""
    return _service(gov, recording_launcher, add_version)


@pytest.fixture
def sqlite_service(sqlite_gov: Governance, recording_launcher: Any, add_version: Any) -> MonitoringService:
    return _service(sqlite_gov, recording_launcher, add_version)


def _monitoring_events(gov: Governance) -> list[str]:
    return [e.action for e in reversed(gov.registry.audit_events(action="monitoring.", limit=1000))]


def test_a_drift_result_becomes_an_audited_alert_recorded_once(
    gov: Governance, service: MonitoringService, drift_result: Any
) -> None:
    result = drift_result("churn", 1, drifted=["tenure"])
    alert = service.receive_drift_result(service.monitor(), result)
    assert alert is not None
    assert (alert.model, alert.version, alert.kind) == ("churn", 1, "drift")
    assert (alert.source, alert.source_id) == ("cxops-drift", result["id"])
    assert alert.summary == "drift on churn:1 over 300 requests: tenure"
    assert alert.action == "notify" and alert.action_reason == "1 drifted feature(s), below the policy's 2"
    assert alert.retrain_run_id is None and alert.details == result
    [event] = gov.registry.audit_events(action="monitoring.")
    assert (event.action, event.actor, event.role, event.model, event.version) == (
        "monitoring.drift_detected",
        "drift-monitor",
        "monitor",
        "churn",
        1,
    )
    assert event.payload == {"alert_id": alert.id, "action": "notify", "action_reason": alert.action_reason}
    assert event.reason == alert.summary

    again = service.receive_drift_result(service.monitor(), dict(result))
    assert again == alert
    assert len(service.alerts(gov.actor("triage-service"))) == 1
    assert _monitoring_events(gov) == ["monitoring.drift_detected"]


def test_no_drift_records_nothing(
    sqlite_gov: Governance, sqlite_service: MonitoringService, drift_result: Any
) -> None:
    assert (
        sqlite_service.receive_drift_result(
            sqlite_service.monitor(), drift_result(verdict="no_drift", drifted=[])
        )
        is None
    )
    assert (
        sqlite_service.alerts(sqlite_gov.actor("triage-service")) == []
        and _monitoring_events(sqlite_gov) == []
    )


def test_a_data_quality_failure_pages_data_engineering_and_never_retrains(
    gov: Governance, service: MonitoringService, drift_result: Any, recording_launcher: Any
) -> None:
    result = drift_result(verdict="data_quality", reasons=["tenure: 12% of rows out of [0, 120]"])
    alert = service.receive_drift_result(service.monitor(), result)
    assert alert is not None and alert.kind == "data_quality"
    assert alert.action == "page_data_engineering" and alert.retrain_run_id is None
    assert alert.summary == "data-quality failure on churn:1: tenure: 12% of rows out of [0, 120]"
    assert recording_launcher.calls == [] and service.runs(None) == []
    assert _monitoring_events(gov) == ["monitoring.data_quality_failed"]


def test_enough_drift_starts_a_retraining_through_the_launcher(
    gov: Governance, service: MonitoringService, drift_result: Any, recording_launcher: Any
) -> None:
    alert = service.receive_drift_result(service.monitor(), drift_result("churn", 1))
    assert alert is not None and alert.action == "retrain"
    assert alert.action_reason == "drift alert: the monitoring policy retrains this model"
    [run] = service.runs(gov.actor("triage-service"))
    assert alert.retrain_run_id == run.id
    assert (run.model, run.trigger, run.status, run.started_by) == (
        "churn",
        f"alert:{alert.id}",
        "running",
        "drift-monitor",
    )
    assert (run.backend, run.external_id, run.version, run.ended_at) == ("local", "4242", None, None)
    assert run.detail == f"pid 4242, log /logs/cxops-retrain-churn-{run.id}.log"
    [call] = recording_launcher.calls
    assert call["model"] == "churn" and call["trigger"] == f"retrain:{run.id}"
    assert call["run_name"] == f"cxops-retrain-churn-{run.id}"
    # The model and the trigger are arguments of their own; the rest are the pipeline's parameters.
    assert call["parameters"] == {"data_path": "", "rows": 5000, "seed": 1000 + run.id}
    assert _monitoring_events(gov) == ["monitoring.drift_detected", "monitoring.retrain_started"]
    started = gov.registry.audit_events(action="monitoring.retrain_started")[0]
    assert started.payload == {"retrain_run_id": run.id, "trigger": f"alert:{alert.id}", "backend": "local"}
    assert started.reason == alert.action_reason


def test_one_retraining_at_a_time_then_the_cool_down(
    gov: Governance, service: MonitoringService, drift_result: Any, recording_launcher: Any
) -> None:
    first = service.receive_drift_result(service.monitor(), drift_result())
    assert first is not None and first.retrain_run_id is not None
    second = service.receive_drift_result(service.monitor(), drift_result())
    assert second is not None and second.action == "already_retraining"
    assert second.action_reason == f"retraining run {first.retrain_run_id} of this model is still running"
    assert second.retrain_run_id is None

    finished = service.finish_run(
        first.retrain_run_id, status="succeeded", version=1, detail="registered churn:1"
    )
    assert (finished.status, finished.version) == ("succeeded", 1) and finished.ended_at is not None
    third = service.receive_drift_result(service.monitor(), drift_result())
    assert third is not None and third.action == "cooldown"
    began = service.run(first.retrain_run_id).started_at
    until = began + timedelta(hours=24)
    assert f"cool-down lasts until {until:%Y-%m-%d %H:%M} UTC" in third.action_reason
    assert len(recording_launcher.calls) == 1

    # Once the cool-down is over, drift retrains again, with a fresh seed.
    with gov.registry.engine.begin() as connection:
        connection.execute(sa.update(RetrainRun).values(started_at=datetime.now(UTC) - timedelta(hours=25)))
    fourth = service.receive_drift_result(service.monitor(), drift_result())
    assert fourth is not None and fourth.action == "retrain"
    seeds = [call["parameters"]["seed"] for call in recording_launcher.calls]
    assert len(seeds) == 2 and seeds[0] != seeds[1]


def test_a_retraining_by_hand_does_not_start_the_cool_down(
    sqlite_gov: Governance, sqlite_service: MonitoringService, drift_result: Any
) -> None:
    manual = sqlite_service.retrain(sqlite_gov.actor("maya"), "churn", reason="new tariff launched")
    sqlite_service.finish_run(manual.id, status="succeeded", version=1)
    alert = sqlite_service.receive_drift_result(sqlite_service.monitor(), drift_result())
    assert alert is not None and alert.action == "retrain"


def test_drift_waits_for_consecutive_windows_of_the_same_version(
    gov: Governance, service: MonitoringService, drift_result: Any, add_version: Any
) -> None:
    monitor = service.monitor()
    add_version(gov.registry, "intent")

    def send(version: int, index: int) -> str:
        alert = service.receive_drift_result(
            monitor, drift_result("intent", version, drifted=["emb_3"], index=index)
        )
        assert alert is not None
        return alert.action

    assert send(1, 4) == "waiting"
    assert send(2, 5) == "waiting"  # another version's window does not make a run
    assert send(1, 6) == "waiting"  # window 5 of version 1 had no drift
    assert send(1, 7) == "retrain"
    assert [r.trigger for r in service.runs(None, "intent")] == ["alert:4"]
    waiting = service.alerts(gov.actor("maya"), "intent")[-1]
    assert waiting.action_reason == "drift in 1 of the 2 consecutive windows needed"


def test_a_result_without_a_window_index_counts_as_one_window(
    sqlite_service: MonitoringService, drift_result: Any
) -> None:
    for _ in range(2):
        alert = sqlite_service.receive_drift_result(
            sqlite_service.monitor(), drift_result("intent", 1, drifted=["emb_0"])
        )
        assert alert is not None and alert.action == "waiting"


def test_a_model_the_policy_does_not_retrain_is_only_notified(
    sqlite_service: MonitoringService, drift_result: Any, recording_launcher: Any
) -> None:
    for index in (1, 2):
        alert = sqlite_service.receive_drift_result(
            sqlite_service.monitor(), drift_result("sentiment", 1, drifted=["emb_0", "emb_1"], index=index)
        )
        assert alert is not None
    assert alert.action == "notify" and "does not retrain this model" in alert.action_reason
    assert recording_launcher.calls == []


def test_a_launcher_that_fails_leaves_the_alert_and_a_failed_run(
    gov: Governance, service: MonitoringService, drift_result: Any, recording_launcher: Any
) -> None:
    recording_launcher.error = RuntimeError("KFP at http://kfp:8888 refused the run")
    with pytest.raises(MonitoringError) as caught:
        service.receive_drift_result(service.monitor(), drift_result())
    assert (
        str(caught.value)
        == "retraining run 1 of 'churn' could not start: KFP at http://kfp:8888 refused the run"
    )
    [alert] = service.alerts(gov.actor("sam"))
    [run] = service.runs(gov.actor("sam"))
    assert alert.retrain_run_id == run.id and alert.action == "retrain"
    assert run.status == "failed" and run.detail == "could not start: KFP at http://kfp:8888 refused the run"
    assert run.ended_at is not None
    assert _monitoring_events(gov)[-1] == "monitoring.retrain_failed"

    # A monitoring error of the launcher's own is raised as it is.
    recording_launcher.error = MonitoringConflictError("run name taken")
    with pytest.raises(MonitoringConflictError, match="run name taken"):
        service.retrain(gov.actor("maya"), "churn", reason="by hand")


def test_only_the_monitor_raises_alerts(
    sqlite_gov: Governance, sqlite_service: MonitoringService, drift_result: Any
) -> None:
    for user in ("triage-service", "maya", "sam"):
        with pytest.raises(PermissionDeniedError, match="monitoring.alert"):
            sqlite_service.receive_drift_result(sqlite_gov.actor(user), drift_result())
    assert (
        sqlite_service.alerts(sqlite_gov.actor("root-admin")) == [] and _monitoring_events(sqlite_gov) == []
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"verdict": "alarm"}, "verdict 'alarm' is unknown; expected drift, no_drift or data_quality"),
        ({"id": ""}, "drift result lacks 'id'"),
        ({"model": None}, "drift result lacks 'model'"),
        ({"version": "seven"}, "alert names version 'seven', which is not a version number"),
    ],
)
def test_a_malformed_result_is_refused(
    sqlite_service: MonitoringService, drift_result: Any, change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(MonitoringInvalidError, match=problem):
        sqlite_service.receive_drift_result(sqlite_service.monitor(), drift_result() | change)


def test_an_alert_of_an_unknown_model_is_a_clear_404(
    sqlite_service: MonitoringService, drift_result: Any
) -> None:
    with pytest.raises(NotFoundError, match="no model 'churn-v2' in the registry"):
        sqlite_service.receive_drift_result(sqlite_service.monitor(), drift_result("churn-v2", 1))


def test_refresh_runs_finds_the_version_a_run_registered(
    gov: Governance, service: MonitoringService, drift_result: Any, add_version: Any
) -> None:
    alert = service.receive_drift_result(service.monitor(), drift_result())
    assert alert is not None and alert.retrain_run_id is not None
    add_version(gov.registry, "churn", lineage={"trigger": "manual"})
    assert service.refresh_runs() == []
    version = add_version(gov.registry, "churn", lineage={"trigger": f"retrain:{alert.retrain_run_id}"})
    [finished] = service.refresh_runs("churn")
    assert (finished.id, finished.status, finished.version) == (alert.retrain_run_id, "succeeded", version)
    assert service.refresh_runs() == [] and service.runs(None, running_only=True) == []
    [event] = gov.registry.audit_events(action="monitoring.retrain_succeeded")
    assert event.version == version and event.payload["retrain_run_id"] == alert.retrain_run_id


def test_a_retraining_by_hand_needs_a_reason_and_waits_for_the_running_one(
    gov: Governance, service: MonitoringService, recording_launcher: Any
) -> None:
    maya = gov.actor("maya")
    with pytest.raises(MonitoringInvalidError, match=r"say why the model is retrained by hand \(--reason\)"):
        service.retrain(maya, "churn", reason="  ")
    with pytest.raises(PermissionDeniedError, match="monitoring.retrain"):
        service.retrain(gov.actor("sam"), "churn", reason="new tariff")
    with pytest.raises(NotFoundError, match="no model 'nope'"):
        service.retrain(maya, "nope", reason="new tariff")
    assert recording_launcher.calls == []

    run = service.retrain(maya, "churn", reason=" new tariff ")
    assert (run.trigger, run.status, run.started_by) == ("manual:new tariff", "running", "maya")
    with pytest.raises(MonitoringConflictError) as caught:
        service.retrain(maya, "churn", reason="again")
    assert caught.value.status_code == 409
    assert str(caught.value) == (
        f"retraining run {run.id} of 'churn' is still running; wait for it (`cxops monitor runs churn`)"
    )
    # Another model is not held up.
    assert service.retrain(maya, "intent", reason="new intents").model == "intent"


def test_a_run_ends_once(sqlite_service: MonitoringService, sqlite_gov: Governance) -> None:
    run = sqlite_service.retrain(sqlite_gov.actor("maya"), "churn", reason="r")
    with pytest.raises(MonitoringInvalidError, match="ends 'succeeded' or 'failed', not 'done'"):
        sqlite_service.finish_run(run.id, status="done")
    failed = sqlite_service.finish_run(run.id, status="failed", detail="out of memory")
    assert sqlite_service.finish_run(run.id, status="succeeded", version=1) == failed
    with pytest.raises(MonitoringNotFoundError, match="no retraining run 99"):
        sqlite_service.finish_run(99, status="failed")
    with pytest.raises(MonitoringNotFoundError, match="`cxops monitor runs`"):
        sqlite_service.run(99)
    with pytest.raises(MonitoringNotFoundError, match="`cxops monitor alerts`"):
        sqlite_service.alert(99)


def test_the_local_backend_starts_the_retrain_run_command(
    sqlite_gov: Governance, add_version: Any, drift_result: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default launcher (local backend) through the real `LocalLauncher`; only the process start is
    stubbed."""
    started: list[list[str]] = []

    def start(self: Any, argv: list[str], out: Any, env: dict[str, str], model: str) -> Any:
        started.append(argv)
        return SimpleNamespace(pid=31337, poll=lambda: None)

    monkeypatch.setattr(launchers.LocalLauncher, "_start", start)
    monkeypatch.setattr(launchers, "_CHILDREN", {})
    add_version(sqlite_gov.registry, "churn")
    service = MonitoringService(sqlite_gov)
    alert = service.receive_drift_result(service.monitor(), drift_result())
    assert alert is not None and alert.retrain_run_id is not None
    [argv] = started
    assert Path(argv[0]).name == "cxops" and argv[1:] == ["monitor", "retrain-run", str(alert.retrain_run_id)]
    run = service.run(alert.retrain_run_id)
    assert (run.status, run.backend, run.external_id) == ("running", "local", "31337")
    assert run.detail.startswith("pid 31337, log ")


def test_watched_versions_are_production_and_the_canarys_candidate(
    sqlite_gov: Governance, sqlite_service: MonitoringService, add_version: Any
) -> None:
    assert sqlite_service.watched_versions("churn") == []
    production = add_version(sqlite_gov.registry, "churn", Stage.PRODUCTION)
    assert sqlite_service.watched_versions("churn") == [production]
    candidate = add_version(sqlite_gov.registry, "churn", Stage.STAGING)
    CanaryService(sqlite_gov).start(sqlite_gov.actor("sam"), "churn", candidate)
    assert sqlite_service.watched_versions("churn") == [production, candidate]


def test_the_drift_reference_of_a_version(
    sqlite_gov: Governance, sqlite_service: MonitoringService, add_version: Any, tmp_path: Path
) -> None:
    with pytest.raises(MonitoringNotFoundError) as caught:
        sqlite_service.drift_reference("churn", 1)
    assert caught.value.status_code == 404
    assert "churn:1 has no drift reference" in str(caught.value)
    assert "retrain it with `cxops pipeline run` to get one" in str(caught.value)
    bundle = tmp_path / "artifacts" / "churn-2" / "drift"
    version = add_version(sqlite_gov.registry, "churn", artifacts={"drift_reference": str(bundle)})
    with pytest.raises(MonitoringNotFoundError, match="artifacts were removed"):
        sqlite_service.drift_reference("churn", version)
    bundle.mkdir(parents=True)
    assert sqlite_service.drift_reference("churn", version) == bundle


def _log_predictions(gov: Governance, scores: list[float], at: datetime) -> list[str]:
    """Logged answers of churn:1 (probability of "Yes"), one per request id."""
    ids = [f"req-{i:04d}" for i in range(len(scores))]
    EventLog(log_root(gov.settings)).append(
        inference_event(
            EVENT_RESPONSE,
            request_id=request_id,
            source="test",
            model="churn",
            endpoint="default",
            version="1",
            status=200,
            data={"predictions": [{"label": "Yes" if score >= 0.5 else "No", "probability": score}]},
            time=at,
        )
        for request_id, score in zip(ids, scores, strict=True)
    )
    return ids


def test_a_production_version_that_underperforms_on_late_labels_raises_one_alert_a_day(
    gov: Governance, add_version: Any, recording_launcher: Any
) -> None:
    service = MonitoringService(gov, launcher_factory=lambda: recording_launcher)
    monitor = service.monitor()
    assert service.check_performance(monitor, "churn") is None  # no production version
    add_version(gov.registry, "churn", Stage.PRODUCTION)
    predicted_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    now = predicted_at + timedelta(days=2)
    # 240 predictions whose scores say nothing of the outcome: ROC-AUC 0.5 breaks the policy's 0.75.
    scores = [0.2, 0.8] * 120
    ids = _log_predictions(gov, scores, predicted_at)
    outcomes = [OutcomeIn(prediction_id=i, outcome="Yes" if n % 4 < 2 else "No") for n, i in enumerate(ids)]
    OutcomeService(gov).record(gov.actor("crm-feedback"), "churn", outcomes[:150])
    assert service.check_performance(monitor, "churn", now=now) is None  # fewer than min_outcomes
    OutcomeService(gov).record(gov.actor("crm-feedback"), "churn", outcomes[150:])

    alert = service.check_performance(monitor, "churn", now=now)
    assert alert is not None and (alert.kind, alert.source, alert.source_id) == (
        "performance",
        "performance-check",
        "churn:1:2026-12-03",
    )
    assert alert.summary == (
        "churn:1 realised roc_auc 0.5000 on 240 labelled predictions of the last 30 days breaks the "
        "policy's roc_auc ≥ 0.75"
    )
    assert alert.details["value"] == 0.5 and alert.details["n"] == 240
    assert alert.action == "retrain" and len(recording_launcher.calls) == 1
    assert service.check_performance(monitor, "churn", now=now + timedelta(hours=1)) == alert
    assert "monitoring.performance_degraded" in _monitoring_events(gov)
    # Predictions older than the policy's window are not judged.
    assert service.check_performance(monitor, "churn", now=now + timedelta(days=31)) is None
    assert service.check_performance(monitor, "recommendation") is None  # no limit in the policy
    with pytest.raises(PermissionDeniedError):
        service.check_performance(gov.actor("maya"), "churn", now=now)
