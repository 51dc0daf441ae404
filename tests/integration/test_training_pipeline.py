"""The real training pipeline through `kfp.local`, on a small slice of the real IBM Telco file."""

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cxops.cli.main import app
from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.registry import Registry
from cxops.scoring import score_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / ".." / "shared" / "datasets" / "telco_churn" / "telco_churn_train.csv"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One pipeline run for the module: 800 real rows, from raw file to a registered, packaged version."""
    from cxops.lifecycle.pipeline import run_pipeline

    tmp = tmp_path_factory.mktemp("pipeline")
    data = tmp / "telco_slice.csv"
    pd.read_csv(REAL, dtype=str, keep_default_na=False).head(800).to_csv(data, index=False)
    settings = Settings(home=tmp / "home")
    result = run_pipeline("churn", settings, data_path=str(data))
    return settings, result, data


def test_pipeline_registers_a_candidate_with_its_lineage_and_artifacts(trained):
    settings, result, _ = trained
    record = result["record"]
    assert record.version == 1 and record.stage == "candidate"
    assert record.bento_tag == result["bento"] and result["bento"].startswith("cxops-churn:")
    assert 0.5 < record.metrics["roc_auc"] <= 1.0
    lineage = record.lineage
    assert lineage["feature_service"] == "churn_features"
    assert lineage["feature_views"] == ["customer_account", "customer_services", "customer_billing"]
    assert lineage["ray"]["backend"] == "ray" and lineage["ray"]["use_gpu"] is False
    with Registry.from_settings(settings) as registry:
        dataset = registry.get_dataset("churn", lineage["dataset_version"])
        validation = registry.get_validation(lineage["validation_id"])
    assert dataset.rows == 800 and dataset.source.endswith("telco_slice.csv")
    assert validation.success and validation.dataset_version == dataset.version
    for name in ("model", "model_card_html", "model_card", "metrics", "validation_report"):
        assert Path(record.artifacts[name]).exists(), name
    assert "bias" in Path(record.artifacts["model_card_html"]).read_text().lower()
    bento_dir = settings.bentoml_home / "bentos" / "cxops-churn" / result["bento"].split(":")[1]
    assert (bento_dir / "env" / "docker" / "Dockerfile").is_file()


def test_batch_scoring_writes_one_score_per_raw_row(trained, tmp_path):
    settings, _, data = trained
    raw = pd.read_csv(data, dtype=str, keep_default_na=False).drop(columns="Churn").head(250)
    raw.to_parquet(tmp_path / "in.parquet")
    summary = score_file("churn", tmp_path / "in.parquet", tmp_path / "out.csv", settings)
    out = pd.read_csv(tmp_path / "out.csv")
    assert summary.rows == len(out) == 250
    assert out["customerID"].tolist() == raw["customerID"].tolist()
    assert out["churn_probability"].between(0, 1).all()
    assert set(out["churn_label"]) <= {"Yes", "No"} and (out["model_version"] == 1).all()


def test_cli_lists_shows_and_scores(trained, tmp_path, monkeypatch):
    settings, _, data = trained
    monkeypatch.setenv("CXOPS_HOME", str(settings.home_dir))
    runner = CliRunner()
    listed = runner.invoke(app, ["models", "list"])
    assert listed.exit_code == 0 and "churn" in listed.output
    shown = runner.invoke(app, ["models", "show", "churn", "--json"])
    assert shown.exit_code == 0 and '"dataset_version"' in shown.output
    missing = runner.invoke(app, ["models", "show", "churn", "--version", "9"])
    assert missing.exit_code != 0 and "known versions: 1" in str(missing.exception)
    scored = runner.invoke(app, ["score", "churn", "-i", str(data), "-o", str(tmp_path / "s.parquet")])
    assert scored.exit_code == 0, scored.output
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == 800


def test_invalid_data_stops_the_pipeline_before_anything_is_registered(tmp_path):
    from cxops.lifecycle.pipeline import run_pipeline

    frame = pd.read_csv(REAL, dtype=str, keep_default_na=False).head(300)
    frame.loc[:9, "Contract"] = "Weekly"
    frame.loc[10:14, "customerID"] = frame.loc[15, "customerID"]
    frame.to_csv(tmp_path / "bad.csv", index=False)
    settings = Settings(home=tmp_path / "home")
    with pytest.raises(CXOpsError, match="failed"):
        run_pipeline("churn", settings, data_path=str(tmp_path / "bad.csv"))
    with Registry.from_settings(settings) as registry:
        assert registry.list_models() == []
        validation = registry.get_validation(1)
    assert not validation.success
    report = Path(validation.report_uri).read_text()
    assert "Weekly" in report  # a bad category is shown, to help fix the data
    assert frame.loc[15, "customerID"] not in report  # a personal identifier never is
