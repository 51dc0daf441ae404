"""The Argo retrain Workflow and the monitoring and retention CronWorkflows, as rendered and as committed.

Checked five ways: byte for byte against the committed YAML in `pipelines/argo/`; by structure (kind,
apiVersion, command, labels, schedules); the Kubernetes parts (the container, as Argo runs it, a core/v1
Container; metadata and pod metadata, meta/v1 ObjectMeta) against kubernetes-validate's strict Kubernetes
1.37 JSON Schema; the whole documents against Argo's schema (`cxops.deploy.validate`); and round-tripped
through Hera's Argo models, which drop what the Argo API does not declare.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cxops import __version__
from cxops.config import Settings
from cxops.deploy.crds import kubernetes_definitions
from cxops.deploy.validate import validate_manifest
from cxops.errors import InvalidInputError
from cxops.monitoring._hera import CronWorkflow, CronWorkflowModel, Workflow, WorkflowModel
from cxops.monitoring.workflows import (
    MONITORING_CRON_FILE,
    RETENTION_CRON_FILE,
    RETENTION_USER,
    RETRAIN_WORKFLOW_FILE,
    label_value,
    monitoring_cron,
    reference_settings,
    render_workflows,
    retrain_workflow,
)

COMMITTED = Path(__file__).resolve().parents[3] / "pipelines" / "argo"
K8S_SCHEMA = kubernetes_definitions()
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
REGENERATE = "run `.venv/bin/python -m cxops.monitoring.workflows` and commit pipelines/argo/"


def k8s_validator(definition: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({**K8S_SCHEMA, "$ref": f"#/$defs/{definition}"})


CONTAINER = k8s_validator("io.k8s.api.core.v1.Container")
OBJECT_META = k8s_validator("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")


def errors(validator: jsonschema.Draft202012Validator, document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("argo")
    paths = render_workflows(reference_settings(), out)
    assert [p.name for p in paths] == [RETRAIN_WORKFLOW_FILE, MONITORING_CRON_FILE, RETENTION_CRON_FILE]
    return {p.name: p.read_text() for p in paths}


@pytest.fixture(scope="module")
def documents(rendered) -> dict[str, dict[str, Any]]:
    return {name: yaml.safe_load(text) for name, text in rendered.items()}


def test_rendered_yaml_matches_the_committed_files(rendered):
    for name, text in rendered.items():
        committed = COMMITTED / name
        assert committed.is_file(), f"pipelines/argo/{name} is missing: {REGENERATE}"
        assert committed.read_text() == text, f"pipelines/argo/{name} is stale: {REGENERATE}"


def test_reference_rendering_ignores_the_environment(monkeypatch, tmp_path, rendered):
    monkeypatch.setenv("CXOPS_IMAGE_REGISTRY", "elsewhere.example/team")
    monkeypatch.setenv("CXOPS_ARGO_NAMESPACE", "other")
    again = render_workflows(reference_settings(), tmp_path)
    assert {p.name: p.read_text() for p in again} == rendered
    text = "".join(rendered.values())
    assert str(Path.home()) not in text and not re.search(r"\d{4}-\d\d-\d\dT", text)


def test_retrain_workflow_runs_the_pipeline_for_the_model_and_trigger(documents):
    doc = documents[RETRAIN_WORKFLOW_FILE]
    assert (doc["apiVersion"], doc["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    meta, spec = doc["metadata"], doc["spec"]
    assert meta["generateName"] == "cxops-retrain-churn-" and meta["namespace"] == "cxops"
    labels = {
        "app.kubernetes.io/part-of": "cxops",
        "app.kubernetes.io/component": "retraining",
        "cxops.io/model": "churn",
        "cxops.io/trigger": "manual",
    }
    assert meta["labels"] == labels and spec["podMetadata"]["labels"] == labels
    assert spec["serviceAccountName"] == "cxops-pipeline"
    assert spec["arguments"]["parameters"] == [
        {"name": "model", "value": "churn"},
        {"name": "trigger", "value": "manual"},
    ]
    (template,) = spec["templates"]
    assert spec["entrypoint"] == template["name"]
    container = template["container"]
    assert container["image"] == f"registry.local/cxops/cxops-platform:{__version__}"
    assert container["command"] + container["args"] == [
        "cxops",
        "pipeline",
        "run",
        "{{workflow.parameters.model}}",
        "--trigger",
        "{{workflow.parameters.trigger}}",
    ]
    assert container["envFrom"] == [
        {"configMapRef": {"name": "cxops-platform"}},
        {"secretRef": {"name": "cxops-platform"}},
    ]
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert (
        0 < template["retryStrategy"]["limit"] <= 3 and template["retryStrategy"]["retryPolicy"] == "OnError"
    )
    assert spec["activeDeadlineSeconds"] > 0
    assert spec["ttlStrategy"]["secondsAfterSuccess"] < spec["ttlStrategy"]["secondsAfterFailure"]


def test_monitoring_cron_checks_every_model_on_its_schedule(documents):
    doc = documents[MONITORING_CRON_FILE]
    assert (doc["apiVersion"], doc["kind"]) == ("argoproj.io/v1alpha1", "CronWorkflow")
    spec = doc["spec"]
    assert spec["schedules"] == ["*/15 * * * *"] and "schedule" not in spec  # Argo v4: a list
    assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] > 0 and spec["failedJobsHistoryLimit"] > 0
    workflow = spec["workflowSpec"]
    assert workflow["serviceAccountName"] == "cxops-pipeline"
    assert workflow["activeDeadlineSeconds"] < 15 * 60  # done before the next check is due
    (template,) = workflow["templates"]
    container = template["container"]
    assert container["command"] + container["args"] == ["cxops", "monitor", "check", "--all"]
    assert (
        container["image"] == documents[RETRAIN_WORKFLOW_FILE]["spec"]["templates"][0]["container"]["image"]
    )
    assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "cxops"


def kubernetes_parts(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The built-in Kubernetes types inside an Argo document: containers and object metadata."""
    spec = doc["spec"].get("workflowSpec", doc["spec"])
    # Argo names a template's container "main"; the core/v1 type requires a name.
    containers = [{"name": "main", **t["container"]} for t in spec["templates"]]
    return containers, [doc["metadata"], spec["podMetadata"]]


ALL_FILES = [RETRAIN_WORKFLOW_FILE, MONITORING_CRON_FILE, RETENTION_CRON_FILE]


@pytest.mark.parametrize("name", ALL_FILES)
def test_documents_validate_against_argos_schema(documents, name):
    assert validate_manifest(documents[name]) == []
    misspelt = {**documents[name], "spec": {**documents[name]["spec"], "entrypont": "x"}}
    assert "'entrypont' was unexpected" in validate_manifest(misspelt)[0]


@pytest.mark.parametrize("name", ALL_FILES)
def test_kubernetes_parts_validate_against_the_kubernetes_schema(documents, name):
    containers, metadata = kubernetes_parts(documents[name])
    for container in containers:
        assert errors(CONTAINER, container) == []
    for meta in metadata:
        assert errors(OBJECT_META, meta) == []
        assert all(LABEL_VALUE.match(v) and len(v) <= 63 for v in meta.get("labels", {}).values())


def test_the_kubernetes_schema_is_strict():
    containers, _ = kubernetes_parts(retrain_workflow("churn", "manual", Settings()).to_dict())
    wrong = {**containers[0], "envFrom": [{"configMap": {"name": "cxops-platform"}}], "resources": {"cpu": 2}}
    assert len(errors(CONTAINER, wrong)) == 2
    assert errors(CONTAINER, {"image": "x"})  # no name


@pytest.mark.parametrize(
    ("name", "hera", "model"),
    [
        (RETRAIN_WORKFLOW_FILE, Workflow, WorkflowModel),
        (MONITORING_CRON_FILE, CronWorkflow, CronWorkflowModel),
        (RETENTION_CRON_FILE, CronWorkflow, CronWorkflowModel),
    ],
)
def test_documents_round_trip_through_heras_argo_models(documents, rendered, name, hera, model):
    doc = documents[name]
    assert model.model_validate(doc).model_dump(by_alias=True, exclude_none=True, mode="json") == doc
    assert hera.from_yaml(rendered[name]).to_dict() == doc


def test_retention_cron_purges_daily_as_the_purge_only_user(documents):
    cron = documents[RETENTION_CRON_FILE]
    assert cron["kind"] == "CronWorkflow" and cron["spec"]["schedules"] == ["30 2 * * *"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    container = cron["spec"]["workflowSpec"]["templates"][0]["container"]
    assert container["args"] == ["gdpr", "purge"]
    assert container["env"] == [{"name": "CXOPS_ACTOR", "value": RETENTION_USER}]
    roles = yaml.safe_load((Settings().root / "policies" / "roles.yaml").read_text())
    assert [roles["roles"][r]["permissions"] for r in roles["users"][RETENTION_USER]] == [["gdpr.purge"]]
    check = documents[MONITORING_CRON_FILE]["spec"]["workflowSpec"]["templates"][0]["container"]
    assert check["env"] == [{"name": "CXOPS_ACTOR", "value": "drift-monitor"}]


def test_trigger_labels_are_label_safe_and_the_trigger_is_kept_whole(tmp_path):
    settings = Settings(home=tmp_path, argo_namespace="cx-jobs", image_registry="reg.example/ml/")
    trigger = "alert:12 drift on 'tenure' / " + "x" * 80
    doc = retrain_workflow(
        "intent", trigger, settings, parameters={"data_path": "s3://b/d.csv", "seed": 3}, run_name="r-1"
    ).to_dict()
    meta = doc["metadata"]
    assert meta["namespace"] == "cx-jobs" and meta["generateName"] == "cxops-retrain-intent-"
    label = meta["labels"]["cxops.io/trigger"]
    assert LABEL_VALUE.match(label) and len(label) == 63 and label.startswith("alert-12-drift-on-tenure-x")
    assert meta["annotations"] == {"cxops.io/trigger": trigger, "cxops.io/run-name": "r-1"}
    container = doc["spec"]["templates"][0]["container"]
    assert container["image"] == f"reg.example/ml/cxops-platform:{__version__}"
    assert container["args"][-4:] == [
        "--data",
        "{{workflow.parameters.data_path}}",
        "--seed",
        "{{workflow.parameters.seed}}",
    ]
    assert {"name": "data_path", "value": "s3://b/d.csv"} in doc["spec"]["arguments"]["parameters"]
    assert errors(OBJECT_META, meta) == []


def test_label_value_edges():
    assert label_value("alert:12") == "alert-12"
    assert label_value("") == "manual" and label_value(":::") == "manual"
    assert label_value("-a_b.c-") == "a_b.c"
    assert label_value("a" * 62 + ":b") == "a" * 62  # cut at 63, then no trailing '-'


def test_invalid_inputs_are_refused_with_the_rule():
    settings = Settings()
    with pytest.raises(InvalidInputError, match="model name 'Churn_2' cannot name an Argo Workflow"):
        retrain_workflow("Churn_2", "manual", settings)
    with pytest.raises(InvalidInputError, match="no parameter 'epochs'.*data_path, rows, seed"):
        retrain_workflow("churn", "manual", settings, parameters={"epochs": 3})
    with pytest.raises(InvalidInputError, match="not a cron expression"):
        monitoring_cron(settings, schedule="every 15 minutes")
    assert yaml.safe_load(monitoring_cron(settings, "@hourly").to_yaml())["spec"]["schedules"] == ["@hourly"]
