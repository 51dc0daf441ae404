"""Bias gaps with bootstrap confidence intervals, from per-row test predictions."""

import time

import numpy as np
import pandas as pd
import pytest

from cxops.governance.bias import (
    MEASURES,
    PREDICTIONS_FILE,
    BiasGap,
    BiasInputError,
    MissingPredictionsError,
    bias_gaps,
    load_predictions,
)
from cxops.governance.errors import GovernanceError

BINARY = "binary_classification"


def _binary(rows_per_group: int, positive_share: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """Each group predicted positive on exactly `share` of its rows; labels random."""
    rng = np.random.default_rng(seed)
    parts = []
    for group, share in positive_share.items():
        pred = np.zeros(rows_per_group, dtype=int)
        pred[: round(share * rows_per_group)] = 1
        parts.append(
            pd.DataFrame(
                {
                    "y_true": rng.integers(0, 2, rows_per_group),
                    "y_score": rng.random(rows_per_group),
                    "y_pred": rng.permutation(pred),
                    "gender": group,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _gap(gaps: list[BiasGap], segment: str, measure: str) -> BiasGap:
    (found,) = [g for g in gaps if g.segment == segment and g.measure == measure]
    return found


def test_point_estimates_are_the_direct_computation_and_inside_the_interval():
    frame = _binary(400, {"Female": 0.30, "Male": 0.45, "Other": 0.40})
    gaps = bias_gaps(frame, BINARY, ["gender"])
    assert [g.measure for g in gaps] == list(MEASURES[BINARY])

    parity = frame.groupby("gender")["y_pred"].mean()
    dp = _gap(gaps, "gender", "demographic_parity_difference")
    assert dp.value == pytest.approx(parity.max() - parity.min())
    assert dp.groups == pytest.approx(parity.to_dict())
    assert dp.rows == frame["gender"].value_counts().to_dict()
    assert dp.low < dp.value < dp.high and dp.note == ""

    positives = frame[frame["y_true"] == 1]
    recall = positives.groupby("gender")["y_pred"].mean()
    eo = _gap(gaps, "gender", "equal_opportunity_difference")
    assert eo.value == pytest.approx(recall.max() - recall.min())
    assert eo.rows == positives["gender"].value_counts().to_dict()
    assert eo.low < eo.value < eo.high


def test_the_interval_shrinks_with_more_rows_and_excludes_zero_for_a_real_gap():
    shares = {"Female": 0.30, "Male": 0.45}
    small = _gap(
        bias_gaps(_binary(100, shares), BINARY, ["gender"]), "gender", "demographic_parity_difference"
    )
    large = _gap(
        bias_gaps(_binary(2000, shares), BINARY, ["gender"]), "gender", "demographic_parity_difference"
    )
    assert small.value == pytest.approx(0.15) and large.value == pytest.approx(0.15)
    # The width goes as 1/sqrt(rows): 20 times the rows, about a quarter of the width.
    assert large.high - large.low < 0.4 * (small.high - small.low)
    assert 0 < large.low < 0.15 < large.high


def test_identical_groups_give_an_interval_around_zero():
    one = _binary(300, {"Female": 0.4}, seed=3)
    frame = pd.concat([one, one.assign(gender="Male")], ignore_index=True)
    for gap in bias_gaps(frame, BINARY, ["gender"]):
        assert gap.value == 0.0
        assert gap.low < 0.0 < gap.high


def test_the_interval_covers_the_true_gap_about_as_often_as_its_confidence():
    rng = np.random.default_rng(11)
    truth, covered, runs = 0.10, 0, 200
    for run in range(runs):
        group = np.repeat(["a", "b"], 300)
        pred = (rng.random(600) < np.where(group == "a", 0.40, 0.40 + truth)).astype(int)
        frame = pd.DataFrame({"y_pred": pred, "y_true": 1, "g": group})
        gap = bias_gaps(frame, BINARY, ["g"], ["demographic_parity_difference"], resamples=400, seed=run)[0]
        signed = gap.groups["b"] - gap.groups["a"]
        # The interval is for the gap between the groups found highest and lowest: orient the truth so.
        covered += gap.low <= (truth if signed >= 0 else -truth) <= gap.high
    assert 0.88 <= covered / runs <= 0.99


def test_small_groups_and_missing_values_are_left_out_and_noted():
    frame = _binary(200, {"Female": 0.3, "Male": 0.5})
    frame = pd.concat(
        [
            frame,
            _binary(12, {"Unknown": 1.0}),
            pd.DataFrame({"y_true": [1] * 5, "y_pred": 1, "gender": None}),
        ],
        ignore_index=True,
    )
    dp = _gap(bias_gaps(frame, BINARY, ["gender"]), "gender", "demographic_parity_difference")
    assert set(dp.groups) == set(dp.rows) == {"Female", "Male"}
    assert dp.value == pytest.approx(0.2)
    assert "'Unknown' (12)" in dp.note and "fewer than 30 rows" in dp.note
    assert "5 rows without a value" in dp.note


def test_a_segment_with_fewer_than_two_usable_groups_has_no_gap():
    frame = pd.concat([_binary(100, {"Female": 0.3}), _binary(10, {"Male": 0.5})], ignore_index=True)
    for gap in bias_gaps(frame, BINARY, ["gender"]):
        assert np.isnan(gap.value) and np.isnan(gap.low) and np.isnan(gap.high)
        assert list(gap.groups) == ["Female"] and "fewer than two groups" in gap.note
        assert gap.to_dict()["value"] is None and gap.to_dict()["note"] == gap.note


def test_a_seed_makes_it_deterministic_and_each_pair_has_its_own_stream():
    frame = _binary(150, {"Female": 0.3, "Male": 0.4, "Other": 0.5})
    frame["senior"] = np.where(np.arange(len(frame)) % 3 == 0, "1", "0")
    both = bias_gaps(frame, BINARY, ["gender", "senior"], seed=7)
    assert both == bias_gaps(frame, BINARY, ["gender", "senior"], seed=7)
    other = bias_gaps(frame, BINARY, ["gender", "senior"], seed=8)
    assert [(g.low, g.high) for g in both] != [(g.low, g.high) for g in other]
    alone = bias_gaps(frame, BINARY, ["senior"], ["equal_opportunity_difference"], seed=7)
    assert alone == [_gap(both, "senior", "equal_opportunity_difference")]


def test_text_accuracy_difference():
    frame = pd.DataFrame(
        {
            "y_true": ["billing", "refund", "billing", "cancel"] * 50,
            "y_pred": ["billing", "refund", "cancel", "cancel"] * 25
            + ["billing", "billing", "cancel", "x"] * 25,
            "language": ["en"] * 100 + ["fr"] * 100,
            "channel": ["chat", "email"] * 100,
        }
    )
    gaps = bias_gaps(frame, "text_classification", ["language", "channel"])
    assert [(g.segment, g.measure) for g in gaps] == [
        ("language", "accuracy_difference"),
        ("channel", "accuracy_difference"),
    ]
    accuracy = (frame["y_true"] == frame["y_pred"]).groupby(frame["language"]).mean()
    assert accuracy.to_dict() == {"en": 0.75, "fr": 0.25}
    assert gaps[0].value == pytest.approx(0.5) and gaps[0].groups == pytest.approx(accuracy.to_dict())
    assert gaps[0].low < 0.5 < gaps[0].high


def test_recommendation_hit_rate_difference():
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "hit": np.r_[np.ones(80), np.zeros(40), np.ones(30), np.zeros(50)].astype(int),
            "ndcg": rng.random(200),
            "gender": ["Female"] * 120 + ["Male"] * 80,
            "SeniorCitizen": pd.array([None] * 200, dtype="string"),
        }
    )
    hit, senior = bias_gaps(frame, "recommendation", ["gender", "SeniorCitizen"])
    assert hit.measure == "hit_rate_difference"
    assert hit.groups == pytest.approx({"Female": 80 / 120, "Male": 30 / 80})
    assert hit.value == pytest.approx(80 / 120 - 30 / 80) and hit.low < hit.value < hit.high
    # A segment the test rows lacked is all missing in the file: measured as nothing, not an error.
    assert np.isnan(senior.value) and senior.groups == {} and "200 rows without a value" in senior.note


def test_bad_inputs_are_refused_with_a_governance_error():
    frame = _binary(50, {"Female": 0.3, "Male": 0.4})
    cases = [
        (dict(task="regression", segments=["gender"]), "unknown task 'regression'"),
        (dict(task=BINARY, segments=["gender"], measures=["accuracy_difference"]), "no measures"),
        (dict(task=BINARY, segments=["Partner"]), r"lack columns \['Partner'\]"),
        (dict(task="recommendation", segments=["gender"]), r"lack columns \['hit'\]"),
        (dict(task=BINARY, segments=["gender"], confidence=1.5), "confidence"),
        (dict(task=BINARY, segments=[]), "no segments"),
    ]
    for kwargs, message in cases:
        with pytest.raises(BiasInputError, match=message) as caught:
            bias_gaps(frame, **kwargs)
        assert isinstance(caught.value, GovernanceError) and caught.value.status_code == 422
    with pytest.raises(BiasInputError, match="'y_pred' must hold 0 or 1"):
        bias_gaps(frame.assign(y_pred=frame["y_score"]), BINARY, ["gender"])


def test_fast_enough_for_a_gate():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "y_true": rng.integers(0, 2, 2000),
            "y_pred": rng.integers(0, 2, 2000),
            "gender": rng.choice(["Female", "Male"], 2000),
            "SeniorCitizen": rng.choice(["0", "1"], 2000),
            "Partner": rng.choice(["Yes", "No"], 2000),
        }
    )
    started = time.perf_counter()
    gaps = bias_gaps(frame, BINARY, ["gender", "SeniorCitizen", "Partner"], resamples=500)
    assert time.perf_counter() - started < 1.0 and len(gaps) == 6


def test_load_predictions(tmp_path):
    frame = _binary(40, {"Female": 0.3, "Male": 0.4})
    frame.to_parquet(tmp_path / PREDICTIONS_FILE, index=False)
    pd.testing.assert_frame_equal(load_predictions(tmp_path), frame)
    with pytest.raises(
        MissingPredictionsError, match=f"'{tmp_path / 'old'}' has no {PREDICTIONS_FILE}"
    ) as caught:
        load_predictions(tmp_path / "old")
    assert caught.value.status_code == 404 and isinstance(caught.value, GovernanceError)
