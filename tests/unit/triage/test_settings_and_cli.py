"""Triage settings from `CXOPS_TRIAGE_*`, and the `cxops triage` commands' help and configuration errors.

The commands against a running service are exercised in tests/integration/test_triage_service.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxops.cli.triage import app
from cxops.config import Settings
from cxops.triage import TriageError, TriageSettings

runner = CliRunner()

_VARIABLES = ("INTENT_URL", "SENTIMENT_URL", "CHURN_URL", "TIMEOUT_S", "POLICY_PATH", "TEXT_ROUTE")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in _VARIABLES:
        monkeypatch.delenv(f"CXOPS_TRIAGE_{name}", raising=False)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CXOPS_TRIAGE_INTENT_URL", "http://intent:8080")
    monkeypatch.setenv("CXOPS_TRIAGE_SENTIMENT_URL", "http://sentiment:8080")
    monkeypatch.setenv("CXOPS_TRIAGE_TIMEOUT_S", "0.75")
    settings = TriageSettings.load(sentiment_url="http://override:1", churn_url=None)
    assert settings.intent_url == "http://intent:8080"
    assert settings.sentiment_url == "http://override:1"  # an option beats the environment
    assert settings.churn_url is None and settings.timeout_s == 0.75
    assert settings.policy_path == Path("policies/triage.yaml")
    assert settings.text_route == "v2"


def test_text_route_comes_from_the_environment_or_the_option(monkeypatch):
    urls = {"intent_url": "http://a", "sentiment_url": "http://b"}
    monkeypatch.setenv("CXOPS_TRIAGE_TEXT_ROUTE", "batched")
    assert TriageSettings.load(**urls).text_route == "batched"
    assert TriageSettings.load(**urls, text_route="v2").text_route == "v2"


def test_unknown_text_route_is_refused_with_the_choices():
    with pytest.raises(TriageError, match="text_route: Input should be 'v2' or 'batched'"):
        TriageSettings.load(intent_url="http://a", sentiment_url="http://b", text_route="grpc")


def test_missing_urls_say_which_variable_to_set():
    with pytest.raises(TriageError) as info:
        TriageSettings.load()
    message = str(info.value)
    assert "CXOPS_TRIAGE_INTENT_URL" in message and "--sentiment-url" in message
    assert info.value.status_code == 422


def test_bad_timeout_is_refused():
    with pytest.raises(TriageError, match="timeout_s: Input should be greater than 0"):
        TriageSettings.load(intent_url="http://a", sentiment_url="http://b", timeout_s=0)


def test_relative_policy_path_is_read_from_the_project_root(tmp_path):
    settings = TriageSettings(intent_url="http://a", sentiment_url="http://b")
    assert settings.resolved_policy_path(Settings(root=tmp_path)) == tmp_path / "policies" / "triage.yaml"
    absolute = TriageSettings(
        intent_url="http://a", sentiment_url="http://b", policy_path=tmp_path / "p.yaml"
    )
    assert absolute.resolved_policy_path() == tmp_path / "p.yaml"


def test_help_teaches_by_example():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output and "send" in result.output and "Example" in result.output


@pytest.mark.parametrize(
    ("command", "options"),
    [
        (
            "serve",
            [
                "--intent-url",
                "--sentiment-url",
                "--churn-url",
                "--text-route",
                "--host",
                "--port",
                "--timeout",
                "--policy",
            ],
        ),
        ("send", ["--customer-id", "--channel", "--url", "--json"]),
    ],
)
def test_command_help_lists_its_options(command, options):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0 and "Example" in result.output
    for option in options:
        assert option in result.output


def test_serve_without_model_urls_is_a_clear_error():
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code != 0
    assert isinstance(result.exception, TriageError)
    assert "CXOPS_TRIAGE_INTENT_URL" in str(result.exception)


def test_serve_refuses_a_broken_policy_before_listening(tmp_path):
    policy = tmp_path / "triage.yaml"
    policy.write_text("version: '1'\ndefaults: {queue: q}\n")
    result = runner.invoke(
        app, ["serve", "--intent-url", "http://a", "--sentiment-url", "http://b", "--policy", str(policy)]
    )
    assert result.exit_code != 0
    assert "degraded: Field required" in str(result.exception)
