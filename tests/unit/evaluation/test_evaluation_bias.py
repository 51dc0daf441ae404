import numpy as np
import pandas as pd
import pytest

from cxops.evaluation.bias import MISSING_GROUP, segment_report


def _case():
    # Group A: 4 rows, 2 positive; calls 3 rows positive (both positives + 1 negative).
    # Group B: 4 rows, 2 positive; calls 1 row positive (one positive).
    groups = pd.Series(["A"] * 4 + ["B"] * 4)
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.1, 0.9, 0.2, 0.3, 0.1])
    return groups, y, p


def test_per_group_metrics_and_gaps_match_hand_computation():
    groups, y, p = _case()
    seg = segment_report("g", groups, y, p, threshold=0.5, min_group_rows=1)
    by = {g["group"]: g for g in seg.groups}
    assert by["A"]["rows"] == 4 and by["B"]["rows"] == 4
    assert by["A"]["predicted_positive_rate"] == pytest.approx(0.75)
    assert by["B"]["predicted_positive_rate"] == pytest.approx(0.25)
    assert by["A"]["recall"] == pytest.approx(1.0) and by["B"]["recall"] == pytest.approx(0.5)
    assert by["A"]["false_positive_rate"] == pytest.approx(0.5) and by["B"]["false_positive_rate"] == 0.0
    assert by["A"]["precision"] == pytest.approx(2 / 3)
    assert seg.demographic_parity_difference == pytest.approx(0.5)
    assert seg.demographic_parity_ratio == pytest.approx(1 / 3)
    assert seg.equal_opportunity_difference == pytest.approx(0.5)
    assert seg.equalized_odds_difference == pytest.approx(0.5)  # max(TPR gap 0.5, FPR gap 0.5)
    assert seg.notes == []


def test_identical_groups_have_no_gap():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.9, 0.1, 0.9, 0.1])
    seg = segment_report("g", pd.Series(["x", "x", "y", "y"]), y, p, 0.5, min_group_rows=1)
    assert seg.demographic_parity_difference == 0.0
    assert seg.equalized_odds_difference == 0.0


def test_missing_values_form_their_own_group_and_small_groups_are_noted():
    groups, y, p = _case()
    groups = groups.astype(object)
    groups.iloc[0] = None
    seg = segment_report("g", groups, y, p, threshold=0.5, min_group_rows=3)
    names = [g["group"] for g in seg.groups]
    assert MISSING_GROUP in names
    assert any("fewer than 3 rows" in n for n in seg.notes)
    assert any("only one class" in n for n in seg.notes)  # the missing group holds a single positive
    d = seg.to_dict()
    assert d["segment"] == "g" and len(d["groups"]) == 3
