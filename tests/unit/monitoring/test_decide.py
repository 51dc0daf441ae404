"""What the monitoring policy does with one alert, branch by branch (a pure function)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cxops.monitoring.decide import decide
from cxops.monitoring.policy import ModelMonitoringPolicy

NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
RETRAINS = ModelMonitoringPolicy(
    retrain=True, min_drifted_features=2, consecutive_windows=2, cooldown_hours=24
)


def test_a_data_quality_failure_pages_data_engineering_whatever_the_policy() -> None:
    decision = decide("data_quality", RETRAINS, drifted_features=9, consecutive=9, now=NOW)
    assert decision.action == "page_data_engineering"
    assert "upstream data bug" in decision.reason and "retraining would learn it" in decision.reason


def test_too_few_drifted_features_only_notify() -> None:
    decision = decide("drift", RETRAINS, drifted_features=1, consecutive=5, now=NOW)
    assert decision.action == "notify"
    assert decision.reason == "1 drifted feature(s), below the policy's 2"


def test_drift_waits_for_the_consecutive_windows_the_policy_needs() -> None:
    decision = decide("drift", RETRAINS, drifted_features=2, consecutive=1, now=NOW)
    assert decision.action == "waiting"
    assert decision.reason == "drift in 1 of the 2 consecutive windows needed"
    assert decide("drift", RETRAINS, drifted_features=2, consecutive=2, now=NOW).action == "retrain"


def test_a_model_the_policy_does_not_retrain_is_only_notified() -> None:
    policy = RETRAINS.model_copy(update={"retrain": False})
    decision = decide("drift", policy, drifted_features=3, consecutive=2, now=NOW)
    assert decision.action == "notify" and "does not retrain this model automatically" in decision.reason


def test_a_running_retraining_is_not_started_twice() -> None:
    decision = decide("drift", RETRAINS, drifted_features=3, consecutive=2, running_retrain=7, now=NOW)
    assert decision.action == "already_retraining"
    assert decision.reason == "retraining run 7 of this model is still running"


def test_the_cool_down_names_when_it_ends_and_then_lets_a_retraining_through() -> None:
    began = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    decision = decide(
        "drift", RETRAINS, drifted_features=3, consecutive=2, last_automatic_retrain=began, now=NOW
    )
    assert decision.action == "cooldown"
    assert decision.reason == (
        "the last automatic retraining began 2026-12-07 09:30 UTC; the 24 h cool-down lasts until "
        "2026-12-08 09:30 UTC"
    )
    after = began + timedelta(hours=24)
    assert (
        decide(
            "drift", RETRAINS, drifted_features=3, consecutive=2, last_automatic_retrain=began, now=after
        ).action
        == "retrain"
    )


def test_enough_drift_outside_the_cool_down_retrains() -> None:
    decision = decide("drift", RETRAINS, drifted_features=2, consecutive=3, now=NOW)
    assert decision.action == "retrain" and decision.reason.startswith("drift alert")


@pytest.mark.parametrize("drifted_features", [0, 5])
def test_a_performance_alert_ignores_feature_and_window_counts(drifted_features: int) -> None:
    decision = decide("performance", RETRAINS, drifted_features=drifted_features, consecutive=1, now=NOW)
    assert decision.action == "retrain" and decision.reason.startswith("performance alert")
    policy = RETRAINS.model_copy(update={"retrain": False})
    assert decide("performance", policy, now=NOW).action == "notify"
