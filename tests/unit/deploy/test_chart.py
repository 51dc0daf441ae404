"""The Helm chart, rendered by Helm's own engine: golden files for the example value sets, every object
valid, and the InferenceServices following the specs and the canary state.

After a deliberate chart change, regenerate the golden files:
`.venv/bin/python tests/unit/deploy/test_chart.py`.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cxops.config import Settings
from cxops.deploy.errors import DeployError
from cxops.deploy.render import CHART_DIR, load_values, render_chart
from cxops.deploy.validate import check_manifests
from cxops.deploy.values import ServedModel, model_values
from cxops.specs import load_spec

ROOT = Settings().root
CHART = ROOT / CHART_DIR
VALUE_SETS = sorted((CHART / "ci").glob("*.yaml"))
GOLDEN = Path(__file__).parent / "golden"
REGENERATE = "`.venv/bin/python tests/unit/deploy/test_chart.py`"


def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
    return render_chart(values, chart_dir=CHART, release="cxops", namespace="cxops")


def _golden_text(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=True)


@pytest.mark.parametrize("value_set", VALUE_SETS, ids=lambda p: p.stem)
def test_rendered_chart_matches_its_golden_file(value_set):
    objects = _render(load_values([value_set]))
    golden = GOLDEN / f"{value_set.stem}.yaml"
    assert golden.is_file(), f"no golden file {golden}: run {REGENERATE}"
    assert _golden_text(objects) == golden.read_text(), (
        f"{golden.name} is stale (or the chart regressed): {REGENERATE}"
    )


@pytest.mark.parametrize("value_set", VALUE_SETS, ids=lambda p: p.stem)
def test_every_checkov_skip_names_its_check_and_why(value_set):
    # `make k8s-check` lints, validates and scans every value set with checkov; this keeps its skips honest.
    for obj in _render(load_values([value_set])):
        annotations = obj["metadata"].get("annotations") or {}
        for key, value in annotations.items():
            if key.startswith("checkov.io/skip"):
                assert re.match(r"^CKV2?_[A-Z0-9_]+=\S.{15,}$", value), f"{obj['kind']}: {key}: {value}"


def _isvc(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == "InferenceService" and o["metadata"]["name"] == name]
    return found


def _serving(item: dict[str, Any], mode: str = "Serverless") -> dict[str, Any]:
    return {"serving": {"deploymentMode": mode, "models": [item]}}


def _container(isvc: dict[str, Any]) -> dict[str, Any]:
    [container] = isvc["spec"]["predictor"]["containers"]
    return container


def test_changing_the_spec_changes_the_inference_service():
    spec = load_spec("churn")
    served = ServedModel("churn", 3, "registry.local/cxops/cxops_churn:v3")
    before = _isvc(_render(_serving(model_values(spec, served))), "churn")
    bigger = spec.model_copy(
        update={
            "serving": spec.serving.model_copy(
                update={
                    "gpus": 1,
                    "max_replicas": 6,
                    "resources": spec.serving.resources.model_copy(update={"memory": "3Gi", "cpu": "1500m"}),
                }
            )
        }
    )
    after = _isvc(_render(_serving(model_values(bigger, served))), "churn")
    assert "nvidia.com/gpu" not in _container(before)["resources"]["limits"]
    resources = _container(after)["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == 1
    assert (resources["requests"]["memory"], resources["requests"]["cpu"]) == ("3Gi", "1500m")
    assert (before["spec"]["predictor"]["maxReplicas"], after["spec"]["predictor"]["maxReplicas"]) == (3, 6)
    check_manifests([after])


def test_a_serverless_canary_runs_the_candidate_image_at_its_percentage():
    spec = load_spec("intent")
    stable_only = _isvc(
        _render(_serving(model_values(spec, ServedModel("intent", 3, "r/intent:3")))), "intent"
    )
    assert "canaryTrafficPercent" not in stable_only["spec"]["predictor"]
    assert _container(stable_only)["image"] == "r/intent:3"
    canary = ServedModel("intent", 3, "r/intent:3", 4, "r/intent:4", 25)
    isvc = _isvc(_render(_serving(model_values(spec, canary))), "intent")
    # Knative: the latest revision (the candidate) gets the percentage, the previous one the rest
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 25
    assert _container(isvc)["image"] == "r/intent:4"
    moved = _isvc(
        _render(_serving(model_values(spec, ServedModel("intent", 3, "r/intent:3", 4, "r/intent:4", 50)))),
        "intent",
    )
    assert moved["spec"]["predictor"]["canaryTrafficPercent"] == 50


def test_a_standard_mode_canary_is_a_named_canary_predictor():
    spec = load_spec("churn")
    item = model_values(spec, ServedModel("churn", 3, "r/churn:3", 4, "r/churn:4", 25))
    isvc = _isvc(_render(_serving(item, "Standard")), "churn")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    assert _container(isvc)["image"] == "r/churn:3"
    [canary] = isvc["spec"]["canary"]
    assert canary["trafficPercent"] == 25 and canary["predictor"]["name"] == item["canary"]["name"]
    assert canary["predictor"]["containers"][0]["image"] == "r/churn:4"
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    check_manifests([isvc])


def test_predictors_log_to_the_drift_monitor_and_probe_bentoml():
    isvc = _isvc(
        _render(_serving(model_values(load_spec("churn"), ServedModel("churn", 1, "r/c:1")))), "churn"
    )
    assert (
        isvc["spec"]["predictor"]["logger"]["url"]
        == "http://cxops-drift-monitor.cxops.svc.cluster.local:8091/"
    )
    container = _container(isvc)
    assert container["name"] == "kserve-container"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda v: v["serving"].update(deploymentMode="Knative"), "deploymentMode"),
        (lambda v: v["serving"]["models"][0]["canary"].update(percent=120), "percent"),
        (lambda v: v["serving"]["models"][0].update(name="Churn_Model"), "name"),
        (lambda v: v.update(unknownKey=1), "unknownKey"),
    ],
)
def test_bad_values_fail_at_render_with_the_value_named(change, expected):
    values = _serving(model_values(load_spec("churn"), ServedModel("churn", 3, "r/c:3", 4, "r/c:4", 25)))
    values = copy.deepcopy(values)
    change(values)
    with pytest.raises(DeployError, match=expected):
        _render(values)


if __name__ == "__main__":  # regenerate the golden files
    GOLDEN.mkdir(exist_ok=True)
    for value_set in VALUE_SETS:
        (GOLDEN / f"{value_set.stem}.yaml").write_text(_golden_text(_render(load_values([value_set]))))
        print(f"wrote {GOLDEN / value_set.stem}.yaml", file=sys.stderr)
