"""`cxops deploy render --target kubernetes --out DIR`: every manifest for the registry's state, validated
before anything is written, the folder replaced whole."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from cxops.cli.main import app
from cxops.config import Settings
from cxops.deploy.errors import DeployError
from cxops.deploy.render import render_kubernetes
from cxops.deploy.values import DeploymentState, ServedModel

STATE = DeploymentState(
    models=[
        ServedModel(
            "churn", 3, "registry.local/cxops/cxops_churn:v3", 4, "registry.local/cxops/cxops_churn:v4", 25
        ),
        ServedModel("intent", 2, "registry.local/cxops/cxops_intent:v2"),
    ],
    skipped={"sentiment": "no production version yet (promote one to serve it)"},
)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home")


def _load(path):
    return yaml.safe_load(path.read_text())


def test_render_writes_every_manifest_for_the_state(settings, tmp_path):
    out = tmp_path / "deploy"
    result = render_kubernetes(settings, out, namespace="cx-prod", state=STATE)
    churn = _load(out / "chart" / "inferenceservice-churn.yaml")
    assert churn["metadata"]["namespace"] == "cx-prod"
    assert churn["spec"]["predictor"]["canaryTrafficPercent"] == 25
    intent = _load(out / "chart" / "inferenceservice-intent.yaml")
    assert "canaryTrafficPercent" not in intent["spec"]["predictor"]
    assert not (out / "chart" / "inferenceservice-sentiment.yaml").exists()
    crons = sorted(p.name for p in (out / "argo").iterdir())
    assert crons == ["cronworkflow-cxops-monitoring-check.yaml", "cronworkflow-cxops-retention-purge.yaml"]
    assert _load(out / "argo" / crons[0])["metadata"]["namespace"] == "cx-prod"
    assert _load(out / "submit" / "retrain-workflow.yaml")["kind"] == "Workflow"
    pipelines = sorted(p.name for p in (out / "pipelines" / "models").iterdir())
    assert pipelines == ["churn.yaml", "intent.yaml", "recommendation.yaml", "sentiment.yaml"]
    state = json.loads((out / "state.json").read_text())
    assert state["models"][0]["canary_percent"] == 25 and state["namespace"] == "cx-prod"
    assert state["not_served"] == STATE.skipped
    assert _load(out / "values.yaml")["serving"]["models"][0]["canary"]["version"] == 4
    assert result.objects == len(list((out / "chart").iterdir())) + 3


def test_a_render_that_fails_validation_writes_nothing(settings, tmp_path):
    out = tmp_path / "deploy"
    render_kubernetes(settings, out, state=STATE)
    before = {p: p.read_text() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.yaml"
    bad.write_text("serving:\n  deploymentMode: Knative\n")
    with pytest.raises(DeployError, match="deploymentMode"):
        render_kubernetes(settings, out, state=STATE, values_files=[bad])
    assert {p: p.read_text() for p in out.rglob("*") if p.is_file()} == before


def test_a_folder_written_by_something_else_is_not_replaced(settings, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(DeployError, match="not written by `cxops deploy render`"):
        render_kubernetes(settings, out, state=STATE)
    assert (out / "notes.txt").read_text() == "keep me"


def test_rerendering_replaces_what_it_wrote_and_keeps_the_rest(settings, tmp_path):
    out = tmp_path / "deploy"
    render_kubernetes(settings, out, state=STATE)
    (out / "kustomization.yaml").write_text("resources: []\n")
    render_kubernetes(settings, out, state=DeploymentState(models=[STATE.models[1]]))
    assert not (out / "chart" / "inferenceservice-churn.yaml").exists()
    assert (out / "kustomization.yaml").is_file()


def test_cli_renders_the_registry_state(tmp_path, monkeypatch):
    monkeypatch.setenv("CXOPS_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app, ["deploy", "render", "--target", "kubernetes", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # the console wraps long lines
    assert "not rendered: no production version" in output
    assert "all valid against the Kubernetes and CRD schemas" in output
    assert not list((tmp_path / "o" / "chart").glob("inferenceservice-*"))
