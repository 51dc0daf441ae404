"""Per-row schema checks and the window-level quality verdict."""

from __future__ import annotations

import pytest

from cxops_drift.quality import QualityTally, check_row, check_text, normalise_value
from cxops_drift.spec import Feature, QualityLimits

TENURE = Feature(name="tenure", type="numeric", min=0, max=120)
CONTACTS = Feature(name="contacts", type="numeric", min=0, max=100, nullable=True)
SENIOR = Feature(name="SeniorCitizen", type="categorical", categories=("0", "1"))


@pytest.mark.parametrize(
    ("feature", "value", "expected"),
    [
        (TENURE, 12, (12.0, None)),
        (TENURE, 12.5, (12.5, None)),
        (TENURE, -1, (-1.0, "out_of_range")),
        (TENURE, 121, (121.0, "out_of_range")),
        (TENURE, "12", (None, "wrong_type")),
        (TENURE, True, (None, "wrong_type")),
        (TENURE, 10**400, (None, "wrong_type")),
        (TENURE, float("inf"), (None, "wrong_type")),
        (TENURE, None, (None, "null")),
        (TENURE, float("nan"), (None, "null")),
        (CONTACTS, None, (None, None)),
        (SENIOR, 1, ("1", None)),  # a category "1" sent as a number
        (SENIOR, "1", ("1", None)),
        (SENIOR, "2", ("2", "unknown_category")),
        (SENIOR, 1.0, (None, "wrong_type")),
        (SENIOR, ["1"], (None, "wrong_type")),
    ],
)
def test_values_are_normalised_or_flagged(feature: Feature, value: object, expected: tuple) -> None:
    assert normalise_value(feature, value) == expected


def test_check_row_reports_missing_and_null_features(tabular_bundle) -> None:
    from cxops_drift.bundle import load_bundle

    spec = load_bundle(tabular_bundle(rows=20)).spec
    row = {"tenure": 3, "MonthlyCharges": 20.0, "support_contacts_90d": None, "Contract": "One year"}
    checked = check_row(spec, row)
    assert checked.problems == {"InternetService": "missing", "SeniorCitizen": "missing"}
    assert checked.nulls == ("support_contacts_90d",) and not checked.valid


def test_check_text() -> None:
    assert check_text("my bill") is None
    assert [check_text(v) for v in (None, "  ", 3)] == ["null", "empty", "wrong_type"]
    assert check_text(None, present=False) == "missing"


def test_the_verdict_names_the_feature_and_the_numbers() -> None:
    tally = QualityTally(names=("tenure", "Contract"))
    for _ in range(90):
        tally.add({})
    for _ in range(8):
        tally.add({"tenure": "out_of_range"})
    for _ in range(2):
        tally.add({"Contract": "unknown_category"})
    verdict = tally.verdict(QualityLimits(max_invalid_fraction=0.05, max_null_fraction=0.2))
    assert verdict["failed"] and verdict["invalid_fraction"] == 0.1
    assert verdict["violations"]["tenure"]["out_of_range"] == 8
    (reason,) = verdict["reasons"]
    assert (
        "10 of 100 rows" in reason
        and "tenure out_of_range 8" in reason
        and "Contract unknown_category 2" in reason
    )
    assert not tally.verdict(QualityLimits(max_invalid_fraction=0.1, max_null_fraction=0.2))["failed"]


def test_a_null_fraction_above_the_limit_fails_even_when_nulls_are_allowed() -> None:
    tally = QualityTally(names=("contacts",))
    for i in range(100):
        tally.add({}, ("contacts",) if i < 30 else ())
    verdict = tally.verdict(QualityLimits(max_invalid_fraction=0.05, max_null_fraction=0.2))
    assert verdict["failed"] and verdict["null_fraction"] == {"contacts": 0.3}
    assert verdict["reasons"] == [
        "feature 'contacts' is null in 0.3000 of rows (30 of 100), above max_null_fraction 0.2"
    ]
