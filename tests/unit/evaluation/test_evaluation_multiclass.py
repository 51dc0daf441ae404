"""Multi-class metrics: hand-computed cases, agreement with scikit-learn, and the tables reports read."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss, precision_score, recall_score

from cxops.errors import InvalidInputError
from cxops.evaluation.multiclass import SCALAR_METRICS, multiclass_metrics

CLASSES = ["a", "b", "c"]
Y = ["a", "a", "b", "c"]
PROBA = np.array(
    [
        [0.7, 0.2, 0.1],  # a, right
        [0.2, 0.6, 0.2],  # a taken for b
        [0.1, 0.8, 0.1],  # b, right
        [0.3, 0.3, 0.4],  # c, right
    ]
)


def test_hand_computed_example():
    m = multiclass_metrics(Y, PROBA, CLASSES)
    assert m["rows"] == 4 and m["classes"] == 3
    assert m["accuracy"] == pytest.approx(0.75)
    per = {r["class"]: r for r in m["per_class"]}
    assert per["a"] == pytest.approx(
        {"class": "a", "precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2, "predicted": 1}
    )
    assert per["b"]["precision"] == pytest.approx(0.5) and per["b"]["recall"] == 1.0
    assert per["c"]["f1"] == 1.0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert m["min_class_f1"] == pytest.approx(2 / 3)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.2, 0.8, 0.4])))
    # Squared distance to the one-hot label per row: 0.14, 1.04, 0.06, 0.54.
    assert m["brier_score"] == pytest.approx(0.445)
    # Top-label confidences 0.7 / 0.6 / 0.8 / 0.4 sit in four different bins, right / wrong / right / right.
    assert m["expected_calibration_error"] == pytest.approx((0.3 + 0.6 + 0.2 + 0.6) / 4)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert m["top_confusions"] == [{"true": "a", "predicted": "b", "count": 1, "share_of_true": 0.5}]
    used = [b for b in m["reliability"] if b["count"]]
    assert [(b["lower"], b["count"], b["accuracy"]) for b in used] == [
        (pytest.approx(0.4), 1, 1.0),
        (pytest.approx(0.6), 1, 0.0),
        (pytest.approx(0.7), 1, 1.0),
        (pytest.approx(0.8), 1, 1.0),
    ]
    assert len(m["reliability"]) == 10
    assert set(SCALAR_METRICS) <= set(m)


def test_agrees_with_scikit_learn_on_random_scores():
    rng = np.random.default_rng(3)
    classes = [f"c{i}" for i in range(6)]
    y_idx = rng.integers(0, 6, size=400)
    logits = rng.normal(size=(400, 6)) + 2.0 * np.eye(6)[y_idx]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = [classes[i] for i in y_idx]
    pred = [classes[i] for i in proba.argmax(axis=1)]
    m = multiclass_metrics(y, proba, classes)
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(f1_score(y, pred, average="weighted"))
    assert m["macro_precision"] == pytest.approx(precision_score(y, pred, average="macro"))
    assert m["macro_recall"] == pytest.approx(recall_score(y, pred, average="macro"))
    assert m["log_loss"] == pytest.approx(log_loss(y, proba, labels=classes))
    matrix = np.array(m["confusion_matrix"])
    assert matrix.sum() == 400 and np.trace(matrix) == round(m["accuracy"] * 400)
    assert [r["support"] for r in m["per_class"]] == list(matrix.sum(axis=1))


def test_top_confusions_are_the_largest_off_diagonal_cells():
    classes = ["x", "y", "z"]
    # true x: 6 right, 3 -> y, 1 -> z; true y: 2 -> x; true z: all right.
    y = ["x"] * 10 + ["y"] * 4 + ["z"] * 3
    pred_idx = [0] * 6 + [1] * 3 + [2] + [0] * 2 + [1] * 2 + [2] * 3
    proba = np.eye(3)[pred_idx] * 0.9 + 0.1 / 3
    m = multiclass_metrics(y, proba, classes, top_n=2)
    assert m["top_confusions"] == [
        {"true": "x", "predicted": "y", "count": 3, "share_of_true": pytest.approx(0.3)},
        {"true": "y", "predicted": "x", "count": 2, "share_of_true": pytest.approx(0.5)},
    ]


def test_perfect_confident_model():
    proba = np.eye(3)[[0, 1, 2, 1]]
    m = multiclass_metrics(["a", "b", "c", "b"], proba, CLASSES)
    assert m["accuracy"] == m["macro_f1"] == m["weighted_f1"] == 1.0
    assert m["expected_calibration_error"] == 0.0 and m["brier_score"] == 0.0
    assert m["log_loss"] == pytest.approx(0.0, abs=1e-9)
    assert m["top_confusions"] == []
    assert m["reliability"][-1]["count"] == 4


def test_macro_average_skips_classes_neither_present_nor_predicted():
    proba = np.hstack([PROBA, np.zeros((4, 1))])
    with_unused = multiclass_metrics(Y, proba, [*CLASSES, "d"])
    assert with_unused["macro_f1"] == pytest.approx(multiclass_metrics(Y, PROBA, CLASSES)["macro_f1"])
    assert with_unused["per_class"][3] == {
        "class": "d",
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "predicted": 0,
    }
    # A class predicted but never true does count: its precision is 0.
    wrong = np.array([[0.1, 0.1, 0.1, 0.7], *np.hstack([PROBA[1:], np.zeros((3, 1))])])
    m = multiclass_metrics(Y, wrong, [*CLASSES, "d"])
    assert m["macro_f1"] == pytest.approx(f1_score(Y, ["d", "b", "b", "c"], average="macro"))


@pytest.mark.parametrize(
    ("y", "proba", "classes", "match"),
    [
        (Y, PROBA[:3], CLASSES, "one row per label"),
        (Y, PROBA[:, :2], CLASSES, "one column per class"),
        (["a", "a", "b", "zz"], PROBA, CLASSES, "zz"),
        (Y, PROBA * 2, CLASSES, "sum to 1"),
        (Y, np.where(PROBA == 0.7, math.nan, PROBA), CLASSES, "finite"),
        (Y, PROBA, ["a", "a", "c"], "distinct"),
        ([], np.zeros((0, 3)), CLASSES, "at least one row"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(y, proba, classes, match):
    with pytest.raises(InvalidInputError, match=match):
        multiclass_metrics(y, proba, classes)
