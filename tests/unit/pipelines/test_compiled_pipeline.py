"""The committed KFP IR YAML is what the pipeline compiles to (regenerate: `make pipeline-compile`)."""

import yaml

from cxops.config import Settings
from cxops.lifecycle.pipeline import COMPILED_PIPELINE, compile_pipeline

STEPS = ["ingest-op", "validate-op", "features-op", "train-op", "evaluate-op", "register-op", "package-op"]


def test_compiled_pipeline_matches_the_committed_golden_file(tmp_path):
    settings = Settings(home=tmp_path)
    fresh = compile_pipeline(settings, tmp_path / "pipeline.yaml").read_text()
    golden = (settings.root / COMPILED_PIPELINE).read_text()
    assert fresh == golden, "pipelines/compiled is stale: run `make pipeline-compile` and commit the result"


def test_pipeline_has_every_step_in_order_and_runs_in_the_platform_image(tmp_path):
    spec = yaml.safe_load(compile_pipeline(Settings(home=tmp_path), tmp_path / "p.yaml").read_text())
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
    assert images == {"cxops/platform:0.1.0"}
    assert spec["root"]["inputDefinitions"]["parameters"]["model"]["defaultValue"] == "churn"
