"""The training pipeline through `kfp.local` for the two text models, on small generated message sets."""

from pathlib import Path

import pandas as pd
import pytest

from cxops.config import Settings
from cxops.registry import Registry
from cxops.scoring import score_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# Both text models run the same pipeline code; sentiment's run is the exhaustive variant (`make test-full`).
TEXT_MODELS = ["intent", pytest.param("sentiment", marks=pytest.mark.full)]


@pytest.fixture(scope="module", params=TEXT_MODELS)
def trained(request, tmp_path_factory):
    """A text model trained by the pipeline on 400 generated messages."""
    from cxops.lifecycle.pipeline import run_pipeline

    model = request.param
    settings = Settings(home=tmp_path_factory.mktemp(f"text-pipeline-{model}") / "home")
    return settings, model, run_pipeline(model, settings, rows=400, seed=3)


def test_pipeline_registers_a_text_candidate_with_lineage_baseline_and_bento(trained):
    settings, model, result = trained
    record = result["record"]
    assert record.version == 1 and record.stage == "candidate"
    assert result["bento"].startswith(f"cxops-{model}:")
    metrics = record.metrics
    assert 0 < metrics["accuracy"] <= 1 and 0 < metrics["macro_f1"] <= 1
    assert 0 < metrics["baseline_macro_f1"] <= 1  # the TF-IDF baseline ran in the evaluation step
    lineage = record.lineage
    assert lineage["feature_service"] == "text:text" and lineage["feature_views"] == []
    assert lineage["trainer"] == "text_head" and lineage["ray"]["backend"] == "ray"
    assert lineage["training"]["mode"] == "frozen_encoder"  # no GPU here: the frozen-encoder path
    with Registry.from_settings(settings) as registry:
        validation = registry.get_validation(lineage["validation_id"])
    assert validation.success
    card = Path(record.artifacts["model_card"]).read_text()
    assert "baseline" in card.lower()


def test_training_data_keeps_no_personal_data_in_the_text(trained):
    settings, _, result = trained
    record = result["record"]
    runs = settings.subdir("pipeline_runs")
    # The generator puts emails and IBANs in ~5% of messages; the frame the model trained on is masked.
    frames = [pd.read_parquet(p) for p in runs.rglob("train_set")] + [
        pd.read_parquet(p) for p in runs.rglob("test_set")
    ]
    assert frames, "the pipeline keeps its train and test splits as artifacts"
    texts = pd.concat(frames)["text"]
    assert not texts.str.contains(r"[\w.+-]+@[\w-]+\.[\w.]+", regex=True).any()
    assert texts.str.contains("<EMAIL>|<IBAN>|<CARD>|<PHONE>", regex=True).sum() >= 5
    assert record.lineage["dataset_version"]


def test_batch_scoring_passes_other_columns_through(trained, tmp_path):
    settings, model, _ = trained
    frame = pd.DataFrame({"ticket": ["T1", "T2", "T3"], "text": ["my bill is wrong", "", "internet down"]})
    frame.to_csv(tmp_path / "tickets.csv", index=False)
    summary = score_file(model, tmp_path / "tickets.csv", tmp_path / "out.parquet", settings)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["ticket"].tolist() == ["T1", "T2", "T3"] and out["text"].tolist()[0] == "my bill is wrong"
    assert summary.rows == 3 and summary.unscored == 1
    assert out[f"{model}_label"].isna().tolist() == [False, True, False]
    assert out.loc[[0, 2], f"{model}_probability"].between(0, 1).all()
    assert sum(summary.label_counts.values()) == 2
