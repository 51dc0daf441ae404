"""The monitoring policy: the shipped file loads, each model's entries override the defaults, and a policy
that cannot mean what it says is refused with a message naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxops.config import Settings
from cxops.monitoring.errors import MonitoringInvalidError
from cxops.monitoring.policy import load_monitoring_policy


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitoring.yaml"
    path.write_text(text)
    return path


def test_the_shipped_policy_loads_and_resolves_each_model(settings: Settings) -> None:
    policy = load_monitoring_policy(settings)
    churn, intent, sentiment = (policy.for_model(m) for m in ("churn", "intent", "sentiment"))
    assert (churn.retrain, churn.min_drifted_features, churn.consecutive_windows) == (True, 2, 1)
    assert churn.cooldown_hours == 24 and churn.data.rows == 5000 and churn.data.path == ""
    assert churn.performance is not None and churn.performance.describe() == "roc_auc ≥ 0.75"
    assert (churn.performance.min_outcomes, churn.performance.days) == (200, 30)
    assert (intent.retrain, intent.min_drifted_features, intent.consecutive_windows) == (True, 1, 2)
    assert intent.performance is not None and intent.performance.metric == "accuracy"
    assert sentiment.retrain is False and sentiment.consecutive_windows == 2
    assert policy.for_model("recommendation").performance is None
    # A model the policy does not name gets the defaults, which never retrain.
    assert policy.for_model("not-listed") == policy.defaults and policy.defaults.retrain is False


def test_a_models_entries_override_the_defaults_and_keep_the_rest(settings: Settings, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
version: "t"
defaults:
  {retrain: false, cooldown_hours: 6, min_drifted_features: 3, data: {path: data/fresh.csv, rows: 800}}
models:
  churn: {retrain: true, data: {rows: 2000}}
  intent: {cooldown_hours: 0, data: {path: data/intent.csv}}
""",
    )
    policy = load_monitoring_policy(settings, path)
    churn, intent = policy.for_model("churn"), policy.for_model("intent")
    assert (churn.retrain, churn.cooldown_hours, churn.min_drifted_features) == (True, 6, 3)
    # A partial `data` entry changes what it names; the rest still comes from the defaults.
    assert (churn.data.path, churn.data.rows) == ("data/fresh.csv", 2000)
    assert (intent.retrain, intent.cooldown_hours) == (False, 0)
    assert (intent.data.path, intent.data.rows) == ("data/intent.csv", 800)
    assert policy.for_model("sentiment").cooldown_hours == 6


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "models: {churn: {cooldown_hour: 3}}",
            r"models\.churn\.cooldown_hour: Extra inputs are not permitted",
        ),
        ("defaults: {retrian: true}", r"defaults\.retrian: Extra inputs are not permitted"),
        (
            "models: {churn: {performance: {metric: roc_auc, min: 0.7, max: 0.9}}}",
            r"performance 'roc_auc' needs exactly one of 'min' or 'max'",
        ),
        (
            "models: {churn: {performance: {metric: accuracy}}}",
            r"performance 'accuracy' needs exactly one of 'min' or 'max'",
        ),
        (
            "models: {churn: {performance: {metric: brier, min: 0.1}}}",
            r"a Brier score is a loss: bound it with 'max', not 'min'",
        ),
        ("models: {churn: {consecutive_windows: 0}}", r"models\.churn\.consecutive_windows"),
    ],
)
def test_a_policy_that_cannot_mean_what_it_says_is_refused(
    settings: Settings, tmp_path: Path, text: str, problem: str
) -> None:
    path = _write(tmp_path, f'version: "t"\n{text}\n')
    with pytest.raises(MonitoringInvalidError, match=problem) as caught:
        load_monitoring_policy(settings, path)
    assert str(path) in str(caught.value) and caught.value.status_code == 422


def test_a_model_without_a_folder_is_refused_with_the_known_models(
    settings: Settings, tmp_path: Path
) -> None:
    path = _write(tmp_path, 'version: "t"\nmodels: {churn: {retrain: true}, chrun: {retrain: true}}\n')
    with pytest.raises(MonitoringInvalidError) as caught:
        load_monitoring_policy(settings, path)
    message = str(caught.value)
    assert "names models ['chrun'] that have no folder under models/" in message
    assert "known models: churn, intent, recommendation, sentiment" in message


def test_a_missing_or_unreadable_file_says_what_to_do(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(MonitoringInvalidError, match="is missing; restore policies/monitoring.yaml"):
        load_monitoring_policy(settings, tmp_path / "absent.yaml")
    with pytest.raises(MonitoringInvalidError, match="is not valid YAML"):
        load_monitoring_policy(settings, _write(tmp_path, "version: [unclosed\n"))


def test_a_performance_limit_is_breached_on_the_wrong_side_only(settings: Settings, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'version: "t"\nmodels:\n  churn: {performance: {metric: brier, max: 0.2}}\n'
        "  intent: {performance: {metric: accuracy, min: 0.85}}\n",
    )
    policy = load_monitoring_policy(settings, path)
    brier, accuracy = policy.for_model("churn").performance, policy.for_model("intent").performance
    assert brier is not None and accuracy is not None
    assert brier.breached(0.25) and not brier.breached(0.2) and brier.describe() == "brier ≤ 0.2"
    assert accuracy.breached(0.84) and not accuracy.breached(0.85)
