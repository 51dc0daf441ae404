"""evaluate() on a real (small, in-process) model, and the model card written from its report."""

import dataclasses
import json
import re

import pyarrow.parquet as pq
import pytest

from cxops.config import Settings
from cxops.data.generators import telco_subscribers
from cxops.data.loaders import coerce
from cxops.errors import InvalidInputError
from cxops.evaluation import evaluate, write_model_card
from cxops.governance.bias import PREDICTIONS_FILE, bias_gaps, load_predictions
from cxops.specs import load_model_code, load_spec
from cxops.training import train


@pytest.fixture(scope="module")
def spec():
    return load_spec("churn")


@pytest.fixture(scope="module")
def setup(spec, tmp_path_factory):
    raw = coerce(telco_subscribers(1000, seed=21), spec)
    frame = load_model_code("churn").derive_features(raw)
    result = train(
        spec,
        frame.iloc[:700],
        Settings(home=tmp_path_factory.mktemp("home")),
        backend="local",
        progress=lambda _m: None,
    )
    report = evaluate(result.classifier, frame.iloc[700:], spec)
    return result, report, frame


def test_report_covers_metrics_segments_and_checks(setup, spec):
    _, report, _ = setup
    assert report.metrics["rows"] == 300
    assert 0.6 < report.metrics["roc_auc"] <= 1.0
    for key in (
        "pr_auc",
        "precision",
        "recall",
        "f1",
        "lift_top_decile",
        "brier_score",
        "expected_calibration_error",
    ):
        assert key in report.metrics
    assert sum(report.confusion.values()) == 300
    assert set(report.segments) == set(spec.evaluation.bias_segments)
    gender = report.segments["gender"]
    assert {g["group"] for g in gender.groups} == {"Female", "Male"}
    assert sum(g["rows"] for g in gender.groups) == 300
    assert 0.0 <= gender.demographic_parity_difference <= 1.0
    assert [c.metric for c in report.checks] == list(spec.evaluation.thresholds)
    assert report.passed == all(c.passed for c in report.checks)
    json.dumps(report.to_dict(), allow_nan=False)  # strict JSON: NaN became null


def test_evaluate_needs_label_and_segments(setup, spec):
    result, _, frame = setup
    with pytest.raises(InvalidInputError, match="gender"):
        evaluate(result.classifier, frame.drop(columns=["gender"]), spec)


def test_model_card_files_hold_every_section(setup, spec, tmp_path):
    result, report, _ = setup
    files = write_model_card(
        report,
        spec,
        tmp_path / "card",
        version=4,
        lineage={"dataset_snapshot": "sha256:abc123", "trained_by": "alice"},
        training=result,
    )
    for path in files.all():
        assert path.is_file() and path.stat().st_size > 0
    md = files.markdown.read_text()
    for heading in (
        "# Model card: churn (version 4)",
        "## Model details",
        "## Intended use",
        "## Data",
        "## Training",
        "## Metrics",
        "## Release thresholds",
        "## Bias by segment",
        "### gender",
        "## Calibration",
        "## Limitations",
        "## Lineage",
    ):
        assert heading in md, heading
    assert spec.owner.email in md and spec.team in md
    assert "Out of scope." in md and "GDPR art. 21" in md
    assert "sha256:abc123" in md
    assert "Demographic parity difference" in md
    for check in report.checks:
        assert f"| {check.metric} |" in md
    for name in files.plots:
        assert f"plots/{name}.png" in md
    assert files.plots["roc"].read_bytes().startswith(b"\x89PNG")

    html = files.html.read_text()
    assert html.lstrip().startswith("<!DOCTYPE html>")
    # Self-contained: every image is embedded, nothing is fetched.
    sources = re.findall(r'src="([^"]+)"', html)
    assert len(sources) == len(files.plots)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in html and "<script" not in html
    assert "Bias by segment" in html and "Limitations" in html and spec.owner.name in html

    data = json.loads(files.metrics_json.read_text())
    assert data["version"] == 4
    assert data["evaluation"]["metrics"]["roc_auc"] == pytest.approx(report.metrics["roc_auc"])
    assert data["training"]["best_iteration"] == result.best_iteration


def test_model_card_html_escapes_text(setup, spec, tmp_path):
    _, report, _ = setup
    files = write_model_card(report, spec, tmp_path, lineage={"note": "<script>alert(1)</script>"})
    html = files.html.read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "## Training" not in files.markdown.read_text()  # no training given, no section


def test_predictions_file_holds_labels_scores_and_segments_only(setup, spec, tmp_path):
    _, report, frame = setup
    test = frame.iloc[700:]
    path = report.write_predictions(tmp_path)
    assert path == tmp_path / PREDICTIONS_FILE
    # Exactly these columns, and no index: the customer key never leaves the test split.
    assert pq.read_schema(path).names == ["y_true", "y_score", "y_pred", *spec.evaluation.bias_segments]
    saved = load_predictions(tmp_path)
    assert len(saved) == len(test) and "customerID" in test.columns
    assert saved["y_pred"].tolist() == (saved["y_score"] >= report.threshold).astype(int).tolist()
    assert saved["y_true"].sum() == report.confusion["tp"] + report.confusion["fn"]
    assert saved["y_pred"].sum() == report.confusion["tp"] + report.confusion["fp"]
    for segment in spec.evaluation.bias_segments:
        assert saved[segment].tolist() == test[segment].astype(str).tolist()
    # Read back by governance, the parity gap is the one the card shows.
    gap = bias_gaps(saved, report.task, ["gender"], ["demographic_parity_difference"], min_group_rows=1)[0]
    assert gap.value == pytest.approx(report.segments["gender"].demographic_parity_difference)
    with pytest.raises(InvalidInputError, match="no per-row predictions"):
        dataclasses.replace(report, predictions=None).write_predictions(tmp_path)
