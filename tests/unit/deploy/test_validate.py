"""Offline validation: built-in kinds against Kubernetes' OpenAPI, custom resources against their CRD
schemas (KServe, Argo, KubeRay, prometheus-operator), unknown fields refused everywhere."""

from __future__ import annotations

import copy

import pytest

from cxops.deploy.crds import CUSTOM_KINDS, custom_schema
from cxops.deploy.errors import DeployError, ManifestInvalidError
from cxops.deploy.validate import check_manifests, validate_manifest

CONTAINER = {
    "name": "kserve-container",
    "image": "registry.local/cxops/churn:1",
    "ports": [{"containerPort": 3000}],
}

ISVC = {
    "apiVersion": "serving.kserve.io/v1beta1",
    "kind": "InferenceService",
    "metadata": {"name": "churn", "namespace": "cxops"},
    "spec": {
        "predictor": {
            "minReplicas": 1,
            "maxReplicas": 3,
            "scaleMetric": "concurrency",
            "scaleTarget": 10,
            "canaryTrafficPercent": 25,
            "logger": {"mode": "all", "url": "http://cxops-drift-monitor.cxops.svc.cluster.local:8091/"},
            "containers": [
                {**CONTAINER, "resources": {"requests": {"cpu": "500m", "nvidia.com/gpu": 1}}},
            ],
        },
    },
}

RAYJOB = {
    "apiVersion": "ray.io/v1",
    "kind": "RayJob",
    "metadata": {"name": "cxops-train-intent-1a2b", "namespace": "cxops"},
    "spec": {
        "entrypoint": "python -m cxops.training.remote --model intent --staging s3://b/p",
        "shutdownAfterJobFinishes": True,
        "submissionMode": "K8sJobMode",
        "rayClusterSpec": {
            "rayVersion": "2.60.0",
            "headGroupSpec": {
                "rayStartParams": {"num-cpus": "0"},
                "template": {"spec": {"containers": [{"name": "ray-head", "image": "x"}]}},
            },
            "workerGroupSpecs": [
                {
                    "groupName": "workers",
                    "replicas": 1,
                    "minReplicas": 1,
                    "maxReplicas": 1,
                    "rayStartParams": {},
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "ray-worker",
                                    "image": "x",
                                    "resources": {"limits": {"nvidia.com/gpu": 1}},
                                }
                            ]
                        }
                    },
                }
            ],
        },
    },
}

SERVICE_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "cxops-drift-monitor", "namespace": "cxops"},
    "spec": {
        "selector": {"matchLabels": {"app.kubernetes.io/component": "drift-monitor"}},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
    },
}

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "cxops-api", "namespace": "cxops"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "api"}},
        "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [CONTAINER]}},
    },
}


@pytest.mark.parametrize("obj", [ISVC, RAYJOB, SERVICE_MONITOR, DEPLOYMENT], ids=lambda o: o["kind"])
def test_valid_objects_pass(obj):
    assert validate_manifest(obj) == []


def _with(obj, path, key, value):
    changed = copy.deepcopy(obj)
    node = changed
    for part in path:
        node = node[part]
    node[key] = value
    return changed


@pytest.mark.parametrize(
    ("obj", "path", "key", "value", "expected"),
    [
        (ISVC, ("spec", "predictor"), "canaryTrafficPercnt", 25, "spec.predictor: Additional properties"),
        (ISVC, ("spec", "predictor"), "minReplicas", "one", "spec.predictor.minReplicas: 'one' is not"),
        (ISVC, ("spec", "predictor", "containers", 0), "imagePullPolicy", 3, "containers[0].imagePullPolicy"),
        (RAYJOB, ("spec", "rayClusterSpec"), "workerGroupSpec", [], "'workerGroupSpec' was unexpected"),
        (RAYJOB, ("spec",), "submissionMode", "Batch", "spec.submissionMode: 'Batch' is not one of"),
        (SERVICE_MONITOR, ("spec",), "endpoint", [], "'endpoint' was unexpected"),
        (DEPLOYMENT, ("spec",), "replicas", "2", "spec.replicas: '2' is not of type 'integer'"),
        (DEPLOYMENT, ("spec", "template", "spec"), "containrs", [], "'containrs' was unexpected"),
    ],
)
def test_a_wrong_field_is_named_with_its_path(obj, path, key, value, expected):
    problems = validate_manifest(_with(obj, path, key, value))
    assert problems and expected in problems[0], problems
    assert problems[0].startswith(f"{obj['kind']} cxops/{obj['metadata']['name']}: ")


def test_the_pod_template_inside_a_custom_resource_is_checked_as_kubernetes_checks_it():
    worker = ("spec", "rayClusterSpec", "workerGroupSpecs", 0, "template", "spec", "containers", 0)
    problems = validate_manifest(_with(RAYJOB, worker, "resources", {"limits": {"nvidia.com/gpu": [1]}}))
    assert problems and "nvidia.com/gpu" in problems[0]


def test_required_fields_are_required():
    no_predictor = copy.deepcopy(ISVC)
    del no_predictor["spec"]["predictor"]
    assert "'predictor' is a required property" in validate_manifest(no_predictor)[0]
    no_selector = copy.deepcopy(SERVICE_MONITOR)
    del no_selector["spec"]["selector"]
    assert "'selector' is a required property" in validate_manifest(no_selector)[0]


def test_unknown_kinds_and_documents_without_a_kind_are_problems():
    assert "no schema for Widget" in validate_manifest({"apiVersion": "example.com/v1", "kind": "Widget"})[0]
    assert "without apiVersion/kind" in validate_manifest({"metadata": {}})[0]
    with pytest.raises(DeployError, match="known: "):
        custom_schema("example.com/v1", "Widget")


def test_check_manifests_lists_every_problem_of_every_object():
    bad_isvc = _with(ISVC, ("spec", "predictor"), "canaryTrafficPercnt", 1)
    bad_deployment = _with(DEPLOYMENT, ("spec",), "replicas", "2")
    with pytest.raises(ManifestInvalidError) as error:
        check_manifests([bad_isvc, DEPLOYMENT, bad_deployment])
    assert len(error.value.problems) == 2
    assert "2 schema error(s)" in error.value.message
    assert check_manifests([ISVC, DEPLOYMENT]) == 2


@pytest.mark.parametrize(("api_version", "kind"), sorted(CUSTOM_KINDS))
def test_every_custom_kind_refuses_unknown_top_level_fields(api_version, kind):
    problems = validate_manifest(
        {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spc": {}}
    )
    assert any("'spc' was unexpected" in p for p in problems), problems
