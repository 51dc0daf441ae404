import math

import numpy as np
import pytest

from cxops.errors import InvalidInputError
from cxops.evaluation.metrics import (
    binary_metrics,
    confusion,
    expected_calibration_error,
    lift_at,
    lift_table,
    reliability_bins,
    roc_points,
)
from cxops.evaluation.report import check_thresholds

Y = np.array([1, 1, 0, 1, 0, 0, 0, 0, 1, 0])
P = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05])


def test_known_case_at_threshold_half():
    m = binary_metrics(Y, P, 0.5)
    # Called positive: 0.9, 0.8, 0.7, 0.6 -> tp 3, fp 1; missed positive: 0.1 -> fn 1; tn 5.
    assert confusion(Y, P >= 0.5) == {"tn": 5, "fp": 1, "fn": 1, "tp": 3}
    assert m["precision"] == pytest.approx(0.75)
    assert m["recall"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["false_positive_rate"] == pytest.approx(1 / 6)
    assert m["predicted_positive_rate"] == pytest.approx(0.4)
    # 24 positive/negative pairs ranked correctly: 6 + 6 + 5 (0.6 < 0.7) + 1 (0.1 > 0.05 only).
    assert m["roc_auc"] == pytest.approx(18 / 24)
    # Average precision: precision at each positive's rank: 1/1, 2/2, 3/4, 4/9.
    assert m["pr_auc"] == pytest.approx((1 + 1 + 0.75 + 4 / 9) / 4)
    assert m["brier_score"] == pytest.approx(np.mean((P - Y) ** 2))


def test_auc_is_one_for_perfect_ranking_and_nan_for_one_class():
    y = np.array([0, 0, 1, 1])
    assert binary_metrics(y, np.array([0.1, 0.2, 0.8, 0.9]), 0.5)["roc_auc"] == pytest.approx(1.0)
    one_class = binary_metrics(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.8, 0.9]), 0.5)
    assert math.isnan(one_class["roc_auc"]) and math.isnan(one_class["pr_auc"])
    assert one_class["recall"] == 0.0


def test_lift_in_the_top_decile():
    # Top 10% of 10 rows = the 0.9 row, a positive; base rate 0.4 -> lift 2.5.
    assert lift_at(Y, P, 0.1) == pytest.approx(2.5)
    y = np.r_[np.ones(10), np.zeros(90)].astype(int)
    p = np.linspace(1, 0, 100)
    assert lift_at(y, p, 0.1) == pytest.approx(10.0)
    table = lift_table(y, p)
    assert len(table) == 10 and table[0]["lift"] == pytest.approx(10.0)
    assert table[0]["cumulative_capture"] == pytest.approx(1.0) and table[-1]["positives"] == 0


def test_calibration_bins_and_ece():
    y = np.array([0, 1, 0, 1, 1, 1])
    p = np.array([0.05, 0.05, 0.55, 0.55, 0.95, 0.95])
    bins = reliability_bins(y, p, bins=10)
    assert [b["count"] for b in bins] == [2, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    assert bins[0]["observed_rate"] == pytest.approx(0.5) and bins[0]["mean_predicted"] == pytest.approx(0.05)
    # |0.5-0.05|, |0.5-0.55|, |1-0.95| each weighted 1/3.
    assert expected_calibration_error(y, p, bins=10) == pytest.approx((0.45 + 0.05 + 0.05) / 3)
    perfect = reliability_bins(np.array([1, 1]), np.array([1.0, 1.0]))
    assert perfect[-1]["count"] == 2  # a score of exactly 1 falls in the last bin


def test_roc_points_are_thinned_and_monotone():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    p = rng.random(5000)
    roc = roc_points(y, p, max_points=50)
    assert len(roc["fpr"]) <= 51
    assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0
    assert all(a <= b for a, b in zip(roc["fpr"], roc["fpr"][1:], strict=False))


def test_bad_inputs_are_rejected():
    with pytest.raises(InvalidInputError):
        binary_metrics(np.array([0, 1]), np.array([0.5]), 0.5)
    with pytest.raises(InvalidInputError):
        binary_metrics(np.array([0, 2]), np.array([0.5, 0.5]), 0.5)


def test_threshold_checks_min_max_and_missing_metrics():
    checks = {
        c.metric: c
        for c in check_thresholds(
            {"roc_auc": 0.81, "recall": 0.5, "brier_score": 0.15, "pr_auc": float("nan")},
            {"roc_auc": 0.80, "recall": 0.60, "brier_score": 0.2, "pr_auc": 0.5, "f3": 0.1},
        )
    }
    assert checks["roc_auc"].passed and checks["roc_auc"].direction == "min"
    assert not checks["recall"].passed
    assert checks["brier_score"].passed and checks["brier_score"].direction == "max"
    assert not checks["pr_auc"].passed and checks["pr_auc"].value is None
    assert not checks["f3"].passed
