"""evaluate() on text models (multi-class metrics, bias by segment, TF-IDF baseline) and their model card."""

import json
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from cxops.data.messages import support_messages
from cxops.errors import InvalidInputError
from cxops.evaluation import BASELINE_WARNING, TextEvaluationReport, evaluate, write_model_card
from cxops.evaluation.multiclass import SCALAR_METRICS
from cxops.modeling import TextClassifier
from cxops.modeling.text import HeadConfig, build_head
from cxops.specs import load_spec
from cxops.training.text_trainer import classes_of

TRAINING = {
    "model_name": "intent",
    "mode": "frozen_encoder",
    "encoder": "all-MiniLM-L6-v2",
    "validation": {"accuracy": 0.9, "macro_f1": 0.88},
    "ray": {
        "backend": "local",
        "num_workers": 0,
        "device": "cpu",
        "use_gpu_requested": True,
        "use_gpu": False,
    },
    "durations": {"fit": 12.5, "total": 14.0},
    "rows": {"total": 400, "train": 340, "validation": 60},
    "params": {"hidden_units": 512, "epochs": 40},
}


class MemorisedClassifier:
    """Answers from labelled messages it has learnt by heart (same interface as `TextClassifier`)."""

    threshold = None

    def __init__(self, model_name: str, classes: list[str], examples: dict[str, str]) -> None:
        self.model_name = model_name
        self.text_column = "text"
        self.classes = list(classes)
        self.metadata: dict = {}
        self._examples = examples

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        k = len(self.classes)
        out = np.full((len(frame), k), 1.0 / k)
        for i, text in enumerate(frame[self.text_column]):
            label = self._examples.get(text)
            if label in self.classes:
                out[i] = 0.02 / (k - 1)
                out[i, self.classes.index(label)] = 0.98
        return out

    def labels(self, proba: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]


def _with_thresholds(spec, thresholds):
    return spec.model_copy(
        update={"evaluation": spec.evaluation.model_copy(update={"thresholds": thresholds})}
    )


@pytest.fixture(scope="module")
def spec():
    return load_spec("intent")


@pytest.fixture(scope="module")
def split():
    messages = support_messages(n=600, seed=23)
    return messages.iloc[:400].reset_index(drop=True), messages.iloc[400:].reset_index(drop=True)


@pytest.fixture(scope="module")
def untrained_report(spec, split):
    """A real text classifier whose head was never trained: far below the baseline, thresholds lenient."""
    import torch

    train, test = split
    torch.manual_seed(0)
    config = HeadConfig(hidden_units=0, dropout=0.0)
    classes = classes_of(train["intent"], spec)
    classifier = TextClassifier.from_spec(spec, classes, build_head(config, len(classes)).eval(), config)
    lenient = _with_thresholds(spec, {"accuracy": 0.0, "log_loss": 100.0})
    return evaluate(classifier, test, lenient, train_frame=train)


@pytest.fixture(scope="module")
def memorised_report(spec, split):
    """Knows every test message: beats the baseline; its 0.98 confidence fails a strict ECE bound."""
    train, test = split
    classifier = MemorisedClassifier(
        "intent", classes_of(train["intent"], spec), dict(zip(test.text, test.intent, strict=True))
    )
    strict = _with_thresholds(spec, {**spec.evaluation.thresholds, "expected_calibration_error": 0.01})
    return evaluate(classifier, test, strict, train_frame=train)


def test_metrics_are_flat_numbers_for_the_registry(untrained_report, memorised_report):
    for report in (untrained_report, memorised_report):
        assert isinstance(report, TextEvaluationReport)
        assert set(report.metrics) == {
            *SCALAR_METRICS,
            "baseline_accuracy",
            "baseline_macro_f1",
            "beats_baseline",
        }
        assert all(isinstance(v, float | bool) for v in report.metrics.values())
        assert report.metrics["rows"] == 200 and report.metrics["classes"] == 12
        json.dumps(report.to_dict(), allow_nan=False)
    assert memorised_report.metrics["accuracy"] == 1.0
    assert memorised_report.metrics["expected_calibration_error"] == pytest.approx(0.02)
    assert memorised_report.metrics["log_loss"] == pytest.approx(-np.log(0.98))
    assert untrained_report.metrics["accuracy"] < 0.4


def test_a_candidate_below_the_baseline_is_flagged_but_thresholds_decide_passed(untrained_report):
    report = untrained_report
    assert report.metrics["baseline_macro_f1"] > 0.8  # TF-IDF learns the generated intents well
    assert report.beats_baseline is False and report.metrics["beats_baseline"] is False
    assert report.warnings and report.warnings[0].startswith(BASELINE_WARNING)
    assert f"{report.metrics['baseline_macro_f1']:.3f}" in report.warnings[0]
    assert report.passed  # the spec's (lenient) thresholds are met: the flag is a warning, not a failure
    assert [(c.metric, c.direction, c.passed) for c in report.checks] == [
        ("accuracy", "min", True),
        ("log_loss", "max", True),
    ]
    assert report.baseline["train_rows"] == 400
    assert report.baseline["metrics"]["macro_f1"] == report.metrics["baseline_macro_f1"]


def test_a_candidate_above_the_baseline_carries_no_warning(memorised_report, spec):
    report = memorised_report
    assert report.beats_baseline is True and report.warnings == []
    assert report.metrics["macro_f1"] > report.metrics["baseline_macro_f1"]
    checks = {c.metric: c for c in report.checks}
    assert checks["accuracy"].passed and checks["macro_f1"].passed
    assert checks["expected_calibration_error"].direction == "max"
    assert not checks["expected_calibration_error"].passed
    assert not report.passed and report.failed_checks == [checks["expected_calibration_error"]]


def test_bias_by_segment_measures_groups_and_skips_small_or_missing_ones(split):
    spec = load_spec("sentiment")  # segments: language, channel, airline
    _, test = split
    test = test.copy()
    test.loc[test.index[:7], "channel"] = "fax"  # too few rows to measure
    # The classifier knows the English messages and gets every French one wrong.
    classes = ["negative", "neutral", "positive"]
    wrong = {c: classes[(i + 1) % 3] for i, c in enumerate(classes)}
    known = {
        text: (wrong[label] if lang == "fr" else label)
        for text, label, lang in zip(test.text, test.sentiment, test.language, strict=True)
    }
    report = evaluate(MemorisedClassifier("sentiment", classes, known), test, spec)
    assert report.baseline is None and "beats_baseline" not in report.metrics

    language = report.segments["language"]
    groups = {g["group"]: g for g in language.groups}
    assert groups["en"]["accuracy"] == 1.0 and groups["fr"]["accuracy"] == 0.0
    assert groups["en"]["rows"] + groups["fr"]["rows"] == len(test)
    assert language.accuracy_gap == 1.0 and language.worst_group == "fr"
    assert language.macro_f1_gap == pytest.approx(groups["en"]["macro_f1"] - groups["fr"]["macro_f1"])

    channel = report.segments["channel"]
    assert channel.skipped == [{"group": "fax", "rows": 7}]
    assert "fax" not in {g["group"] for g in channel.groups}
    assert any("fewer than 20 rows" in n and "fax (7 rows)" in n for n in channel.notes)
    assert report.unmeasured_segments == {"airline": "the test rows have no such column"}

    test["airline"] = None
    again = evaluate(MemorisedClassifier("sentiment", classes, known), test, spec)
    assert again.unmeasured_segments == {"airline": "the column is empty in the test rows"}


def test_predictions_file_holds_classes_and_segments_but_no_text(split, tmp_path):
    spec = load_spec("sentiment")  # segments: language, channel, airline (absent from the rows)
    _, test = split
    classes = ["negative", "neutral", "positive"]
    known = {
        t: ("neutral" if lang == "fr" else s)
        for t, s, lang in zip(test.text, test.sentiment, test.language, strict=True)
    }
    report = evaluate(MemorisedClassifier("sentiment", classes, known), test, spec)
    path = report.write_predictions(tmp_path)
    assert pq.read_schema(path).names == ["y_true", "y_pred", "language", "channel", "airline"]
    saved = pd.read_parquet(path)
    assert saved["y_true"].tolist() == test["sentiment"].tolist()
    assert (saved["y_true"] == saved["y_pred"]).mean() == pytest.approx(report.metrics["accuracy"])
    assert saved["language"].tolist() == test["language"].tolist()
    assert saved["airline"].isna().all()
    assert not set(saved.astype(str).to_numpy().ravel()) & {*test.text, *test.customerID, *test.message_id}


def test_classes_the_model_cannot_predict_count_as_errors(spec, split):
    _, test = split
    classes = [c for c in classes_of(test["intent"], spec) if c != "roaming"]
    report = evaluate(
        MemorisedClassifier("intent", classes, dict(zip(test.text, test.intent, strict=True))), test, spec
    )
    roaming = int((test["intent"] == "roaming").sum())
    assert report.classes[-1] == "roaming"
    assert report.metrics["accuracy"] == pytest.approx(1 - roaming / len(test))
    assert any("cannot predict" in w and "roaming" in w for w in report.warnings)
    assert next(c for c in report.per_class if c["class"] == "roaming")["recall"] == 0.0


def test_evaluation_names_missing_columns(spec, split):
    train, test = split
    model = MemorisedClassifier("intent", sorted(set(test.intent)), {})
    with pytest.raises(InvalidInputError, match="'text'"):
        evaluate(model, test.drop(columns="text"), spec)
    with pytest.raises(InvalidInputError, match="training frame lacks columns \\['intent'\\]"):
        evaluate(model, test, spec, train_frame=train.drop(columns="intent"))
    with pytest.raises(InvalidInputError, match="without a label"):
        evaluate(model, test.assign(intent=None), spec)


def _table(md: str, heading: str) -> list[list[str]]:
    section = md.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_card_of_a_candidate_below_the_baseline(untrained_report, spec, tmp_path):
    report = untrained_report
    files = write_model_card(report, spec, tmp_path / "card", version=2, training=TRAINING)
    for path in files.all():
        assert path.is_file() and path.stat().st_size > 0
    md = files.markdown.read_text()
    for heading in (
        "# Model card: intent (version 2)",
        "## Model details",
        "## Training",
        "## Metrics",
        "## Release thresholds",
        "## Baseline comparison",
        "## Per-class scores",
        "## Top confusions",
        "## Calibration",
        "## Bias by segment",
        "### language",
        "### channel",
        "## Limitations",
    ):
        assert heading in md, heading
    assert "ROC" not in md and "Lift" not in md  # binary-only sections stay out
    assert f"**Warning: {BASELINE_WARNING}.**" in md
    assert "frozen encoder (all-MiniLM-L6-v2)" in md

    comparison = {row[0]: row for row in _table(md, "## Baseline comparison")}
    assert comparison["Macro-F1"][1:3] == [
        f"{report.metrics['macro_f1']:.3f}",
        f"{report.metrics['baseline_macro_f1']:.3f}",
    ]
    per_class = _table(md, "## Per-class scores")
    assert len(per_class) == 12
    f1 = [float(row[3]) for row in per_class]
    assert f1 == sorted(f1)  # weakest first
    confusions = _table(md, "## Top confusions")
    assert [row[:3] for row in confusions] == [
        [t["true"], t["predicted"], str(t["count"])] for t in report.top_confusions
    ]
    assert len(confusions) == 10
    assert set(files.plots) == {"calibration", "confusion", "segment_language", "segment_channel"}
    assert files.plots["calibration"].read_bytes().startswith(b"\x89PNG")

    html = files.html.read_text()
    assert f"Warning: {BASELINE_WARNING}." in html and "Baseline comparison" in html
    sources = re.findall(r'src="([^"]+)"', html)
    assert len(sources) == len(files.plots) and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in html

    data = json.loads(files.metrics_json.read_text())
    assert data["version"] == 2 and data["evaluation"]["beats_baseline"] is False
    assert data["evaluation"]["metrics"]["baseline_macro_f1"] == pytest.approx(
        report.metrics["baseline_macro_f1"]
    )
    assert data["training"]["mode"] == "frozen_encoder"


def test_card_of_a_candidate_above_the_baseline(memorised_report, spec, tmp_path):
    files = write_model_card(memorised_report, spec, tmp_path)
    md, html = files.markdown.read_text(), files.html.read_text()
    assert BASELINE_WARNING not in md and BASELINE_WARNING not in html
    assert "Beats the baseline (macro-F1): **yes**" in md
    assert "No message was misclassified." in md
    assert "Release threshold not met: expected_calibration_error" in md
    assert "## Training" not in md  # no training summary given


def test_card_with_many_classes_and_no_baseline(spec, tmp_path):
    classes = spec.data.real_dataset_labels  # Banking77's 77 intents
    frame = pd.DataFrame(
        {
            "text": [f"query {i}" for i in range(2 * len(classes))],
            "intent": [c for c in classes for _ in range(2)],
            "language": "en",
            "channel": "app",
        }
    )
    known = dict(zip(frame.text, frame.intent, strict=True))
    known["query 0"] = classes[5]  # one mistake
    report = evaluate(MemorisedClassifier("intent", classes, known), frame, spec)
    files = write_model_card(report, spec, tmp_path)
    md = files.markdown.read_text()
    assert "No baseline was fitted" in md
    assert "confusion" not in files.plots  # 77 x 77 is unreadable: the table carries it
    assert _table(md, "## Per-class scores")[0][0] == classes[0]  # the one class with a miss is first
    assert len(_table(md, "## Per-class scores")) == 77
    assert _table(md, "## Top confusions") == [[classes[0], classes[5], "1", "50.0%"]]
    # One group per segment: no gap to report, and the card says why.
    assert "fewer than two groups" in md
