"""What the chart serves comes from the registry (production version, a split canary and its share) and
how from the spec (resources, GPUs, replicas)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from cxops.canary.service import CanaryService
from cxops.config import Settings
from cxops.deploy.errors import DeployError
from cxops.deploy.values import ServedModel, deployment_state, model_values
from cxops.governance.service import Governance
from cxops.registry import Registry, Stage
from cxops.specs import load_spec


def _version(registry: Registry, stage: Stage, bento: str | None) -> int:
    record = registry.register_version(
        "churn", metrics={}, artifacts={}, params={}, lineage={}, owner="o", team="t", created_by="maya",
        dataset_version=None,
    )  # fmt: skip
    if bento:
        registry.set_bento("churn", record.version, bento)
    with registry.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE model_versions SET stage = :stage WHERE model = 'churn' AND version = :version"),
            {"stage": stage.value, "version": record.version},
        )
    return record.version


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", image_registry="registry.example/cxops/")


@pytest.fixture
def gov(settings) -> Iterator[Governance]:
    with Governance.from_settings(settings) as opened:
        yield opened


def test_only_models_with_a_production_version_are_served(settings, gov):
    _version(gov.registry, Stage.PRODUCTION, "cxops_churn:v1aaaa")
    state = deployment_state(settings)
    assert state.models == [ServedModel("churn", 1, "registry.example/cxops/cxops_churn:v1aaaa")]
    assert set(state.skipped) == {"intent", "sentiment", "recommendation"}
    assert "no production version" in state.skipped["intent"]


def test_a_split_canary_renders_its_candidate_and_whole_percentage(settings, gov):
    _version(gov.registry, Stage.PRODUCTION, "cxops_churn:v1aaaa")
    candidate = _version(gov.registry, Stage.STAGING, "cxops_churn:v2bbbb")
    CanaryService(gov).start(gov.actor("sam"), "churn", candidate, steps=[12.5, 50, 100])
    [served] = deployment_state(settings).models
    assert (served.canary_version, served.canary_image) == (2, "registry.example/cxops/cxops_churn:v2bbbb")
    assert served.canary_percent == 12  # KServe takes whole percentages


def test_a_shadow_canary_cannot_run_on_kserve_and_says_so(settings, gov):
    _version(gov.registry, Stage.PRODUCTION, "cxops_churn:v1aaaa")
    candidate = _version(gov.registry, Stage.STAGING, "cxops_churn:v2bbbb")
    CanaryService(gov).start(gov.actor("sam"), "churn", candidate, shadow=True)
    state = deployment_state(settings)
    assert state.models[0].canary_version is None
    assert "shadow" in state.skipped["churn canary"]


def test_a_production_version_without_a_bento_is_an_error_naming_the_fix(settings, gov):
    _version(gov.registry, Stage.PRODUCTION, None)
    with pytest.raises(
        DeployError, match="cannot render model 'churn': churn:1 has no bento.*run the pipeline"
    ):
        deployment_state(settings)


def test_model_values_follow_the_spec():
    spec = load_spec("intent")
    served = ServedModel("intent", 3, "r/intent:3", 4, "r/intent:4", 25)
    item = model_values(spec, served)
    assert item["resources"] == {
        "requests": {"cpu": spec.serving.resources.cpu, "memory": spec.serving.resources.memory},
        "limits": {"cpu": spec.serving.resources.cpu_limit, "memory": spec.serving.resources.memory_limit},
    }
    assert (item["gpus"], item["minReplicas"], item["maxReplicas"]) == (0, 1, 4)
    assert item["canary"]["percent"] == 25 and item["canary"]["name"].startswith("cx-")
    assert item["team"] == spec.team and item["stable"] == {"version": 3, "image": "r/intent:3"}
    assert "canary" not in model_values(spec, ServedModel("intent", 3, "r/intent:3"))


def test_spec_serving_rules_are_checked():
    spec = load_spec("churn")
    with pytest.raises(ValueError, match="min_replicas"):
        type(spec.serving).model_validate({"min_replicas": 4, "max_replicas": 2})
    with pytest.raises(ValueError, match="pattern"):
        type(spec.serving).model_validate({"resources": {"cpu": "two"}})
