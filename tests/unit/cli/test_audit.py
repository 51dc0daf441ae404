"""`cxops audit ...`: lineage, trained-on, log and verify, acting as CXOPS_ACTOR."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cxops.cli import audit
from cxops.governance.errors import PermissionDeniedError
from cxops.registry import Registry

runner = CliRunner()
DATASET = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.fixture
def database(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """churn:1 with its data, validation, views, bento and a deployment event; the CLI acts as dana."""
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CXOPS_DATABASE_URL", database_url)
    monkeypatch.setenv("CXOPS_ACTOR", "dana")
    monkeypatch.setattr(audit.console, "width", 200)  # tables unwrapped, as on a wide terminal
    with Registry(database_url) as registry:
        registry.record_dataset("churn", DATASET, "/data/churn.parquet", 700, "generated")
        validation = registry.record_validation("churn", DATASET, "churn_raw", True)
        registry.register_version(
            "churn",
            metrics={"roc_auc": 0.84},
            artifacts={},
            params={},
            lineage={
                "validation_id": validation,
                "feature_service": "churn_features",
                "feature_views": ["customer_account", "customer_billing"],
                "code": {"commit": "4be2d7c01f9e", "dirty": False},
                "trainer": "xgboost",
            },
            owner="retention@cxops.example",
            team="customer-retention",
            created_by="maya",
            dataset_version=DATASET,
        )
        registry.set_bento("churn", 1, "churn_service:abc123", actor="maya")
        registry.record_event(
            actor="sam",
            role="sre",
            action="deployment.canary",
            model="churn",
            version=1,
            payload={"deployment_id": "churn-prod-1", "traffic": 10},
        )
    return database_url


def test_lineage_prints_the_tree_and_writes_svg_and_html(database, tmp_path) -> None:
    svg, page = tmp_path / "out" / "churn.svg", tmp_path / "out" / "churn.html"
    result = runner.invoke(
        audit.app, ["lineage", "churn", "--version", "1", "--svg", str(svg), "--html", str(page)]
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "lineage of churn:1"
    assert any("deployed → deployment churn-prod-1" in line for line in lines)
    assert "feature service churn_features (see above)" in result.stdout
    root = ET.fromstring(svg.read_text())
    assert (
        len(root.findall("{http://www.w3.org/2000/svg}g")) == 9
    )  # data, check, 2 views, service, run, version, bento, deployment
    html = page.read_text()
    assert "<svg" in html and "churn_service:abc123" in html
    assert "https://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    ) and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_lineage_json(database) -> None:
    result = runner.invoke(audit.app, ["lineage", "churn", "-v", "1", "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {n["kind"] for n in data["nodes"]} >= {
        "dataset",
        "feature_view",
        "model_version",
        "bento",
        "deployment",
    }
    assert {"from": "model_version:churn:1", "to": "bento:churn_service:abc123", "label": "packaged"} in data[
        "edges"
    ]


def test_trained_on_finds_versions_by_feature_view_and_dataset(database) -> None:
    found = runner.invoke(audit.app, ["trained-on", "--feature-view", "customer_billing", "--json"])
    assert found.exit_code == 0, found.output
    assert [(r["model"], r["version"]) for r in json.loads(found.stdout)] == [("churn", 1)]

    table = runner.invoke(audit.app, ["trained-on", "--dataset-version", DATASET])
    assert (
        table.exit_code == 0
        and "churn" in table.stdout
        and "customer_account, customer_billing" in table.stdout
    )

    none = runner.invoke(audit.app, ["trained-on", "--feature-view", "offer_catalog"])
    assert none.exit_code == 0 and "no model version matches" in none.stdout

    missing = runner.invoke(audit.app, ["trained-on"])
    assert missing.exit_code == 2 and "--dataset-version or --feature-view" in missing.output


def test_log_lists_newest_first_with_filters(database) -> None:
    everything = runner.invoke(audit.app, ["log", "--json"])
    assert everything.exit_code == 0, everything.output
    events = json.loads(everything.stdout)
    assert [e["seq"] for e in events] == [3, 2, 1]
    assert [e["action"] for e in events] == ["deployment.canary", "model.packaged", "model.registered"]

    deployments = json.loads(runner.invoke(audit.app, ["log", "--action", "deployment", "--json"]).stdout)
    assert [e["actor"] for e in deployments] == ["sam"]
    by_maya = json.loads(
        runner.invoke(audit.app, ["log", "--actor", "maya", "--limit", "1", "--json"]).stdout
    )
    assert [e["seq"] for e in by_maya] == [2]
    assert len(json.loads(runner.invoke(audit.app, ["log", "--since", "1h", "--json"]).stdout)) == 3
    assert json.loads(runner.invoke(audit.app, ["log", "--until", "2020-01-01", "--json"]).stdout) == []

    table = runner.invoke(audit.app, ["log", "--model", "churn", "--version", "1"])
    assert table.exit_code == 0
    assert table.stdout.index("deployment.canary") < table.stdout.index("model.registered")

    bad = runner.invoke(audit.app, ["log", "--since", "last tuesday"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_verify_passes_then_names_the_first_event_edited_in_the_database(database) -> None:
    ok = runner.invoke(audit.app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("ok: 3 events, head ")

    engine = sa.create_engine(database)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_events SET reason = 'nothing happened' WHERE seq = 2"))
    engine.dispose()

    broken = runner.invoke(audit.app, ["verify"])
    assert broken.exit_code == 1
    assert "broken at event 2" in broken.output
    assert "model.packaged by maya" in broken.output


def test_commands_refuse_users_without_the_permission(database, monkeypatch) -> None:
    monkeypatch.setenv("CXOPS_ACTOR", "maya")  # ml-engineer: may read the log, may not verify it
    refused = runner.invoke(audit.app, ["verify"])
    assert isinstance(refused.exception, PermissionDeniedError) and "audit.verify" in str(refused.exception)
    assert runner.invoke(audit.app, ["log", "--json"]).exit_code == 0

    monkeypatch.setenv("CXOPS_ACTOR", "triage-service")
    refused = runner.invoke(audit.app, ["lineage", "churn", "--version", "1"])
    assert isinstance(refused.exception, PermissionDeniedError) and "lineage.read" in str(refused.exception)
