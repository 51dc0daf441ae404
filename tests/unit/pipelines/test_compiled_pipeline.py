"""The committed KFP IR YAML is what the pipeline compiles to (regenerate: `make pipeline-compile`)."""

import yaml

from cxops.config import Settings
from cxops.lifecycle.pipeline import (
    COMPILED_MODELS,
    COMPILED_PIPELINE,
    compile_model_pipelines,
    compile_pipeline,
)

STEPS = ["ingest-op", "validate-op", "features-op", "train-op", "evaluate-op", "register-op", "package-op"]


def test_compiled_pipeline_matches_the_committed_golden_file(tmp_path):
    settings = Settings(home=tmp_path)
    fresh = compile_pipeline(settings, tmp_path / "pipeline.yaml").read_text()
    golden = (settings.root / COMPILED_PIPELINE).read_text()
    assert fresh == golden, "pipelines/compiled is stale: run `make pipeline-compile` and commit the result"


def test_pipeline_has_every_step_in_order_and_runs_in_the_platform_image(tmp_path):
    spec = next(
        yaml.safe_load_all(compile_pipeline(Settings(home=tmp_path), tmp_path / "p.yaml").read_text())
    )
    tasks = spec["root"]["dag"]["tasks"]
    assert sorted(tasks) == sorted(STEPS)
    assert tasks["features-op"]["dependentTasks"] == ["ingest-op", "validate-op"]
    assert "train-op" in tasks["evaluate-op"]["dependentTasks"]
    assert set(tasks["register-op"]["dependentTasks"]) == {
        "evaluate-op",
        "ingest-op",
        "train-op",
        "validate-op",
    }
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {"registry.local/cxops/cxops-platform:0.1.0"}
    assert spec["root"]["inputDefinitions"]["parameters"]["model"]["defaultValue"] == "churn"


def _documents(path):
    pipeline, platform = yaml.safe_load_all(path.read_text())
    return pipeline, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_every_step_reads_the_platform_settings_on_a_cluster(tmp_path):
    _, executors = _documents(compile_pipeline(Settings(home=tmp_path), tmp_path / "p.yaml"))
    assert len(executors) == len(STEPS)
    for config in executors.values():
        secret = config["secretAsEnv"][0]
        assert secret["secretName"] == "cxops-platform" and not secret.get("optional")
        keys = {entry["secretKey"] for entry in secret["keyToEnv"]}
        assert {"CXOPS_DATABASE_URL", "CXOPS_REDIS_URL", "CXOPS_PSEUDONYM_KEY"} <= keys
        config_map = config["configMapAsEnv"][0]
        assert config_map["configMapName"] == "cxops-platform" and config_map["optional"] is True


def test_model_pipelines_match_the_committed_golden_files(tmp_path):
    settings = Settings(home=tmp_path)
    fresh = compile_model_pipelines(settings, tmp_path / "models")
    assert [p.stem for p in fresh] == ["churn", "intent", "recommendation", "sentiment"]
    for path in fresh:
        golden = settings.root / COMPILED_MODELS / path.name
        assert path.read_text() == golden.read_text(), f"{golden} is stale: run `make pipeline-compile`"


def _train_step(path):
    pipeline, executors = _documents(path)
    return pipeline["deploymentSpec"]["executors"]["exec-train-op"]["container"], executors["exec-train-op"]


def test_a_gpu_spec_asks_for_gpus_on_its_train_step_and_a_cpu_spec_does_not(tmp_path):
    paths = {p.stem: p for p in compile_model_pipelines(Settings(home=tmp_path), tmp_path)}
    intent, intent_k8s = _train_step(paths["intent"])  # scaling: 1 worker, use_gpu, 2 CPUs, 8Gi
    assert intent["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert intent["resources"]["accelerator"]["resourceCount"] == "1"
    assert intent["resources"]["resourceMemoryLimit"] == "8Gi"
    assert intent_k8s["tolerations"][0]["key"] == "nvidia.com/gpu"
    churn, churn_k8s = _train_step(paths["churn"])
    assert "accelerator" not in churn["resources"] and "tolerations" not in churn_k8s
    assert churn["resources"]["resourceMemoryLimit"] == "4Gi"


def test_with_a_rayjob_the_train_step_only_submits_and_the_rayjob_asks_for_the_gpus(tmp_path):
    settings = Settings(home=tmp_path, training_backend="rayjob", staging_uri="s3://bucket/cxops")
    paths = {p.stem: p for p in compile_model_pipelines(settings, tmp_path)}
    intent, intent_k8s = _train_step(paths["intent"])
    assert "accelerator" not in intent["resources"] and "tolerations" not in intent_k8s
    assert intent["resources"]["resourceMemoryLimit"] == "2Gi"
