from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxops.config import Settings
from cxops.data.loaders import coerce, read_table
from cxops.specs import ModelSpec
from cxops.validation import ExpectationFailure, ValidationReport, validate


def only_failure(report: ValidationReport) -> ExpectationFailure:
    assert not report.success
    assert len(report.failures) == 1, report.summary()
    return report.failures[0]


def test_generated_frame_passes(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    report = validate(good_frame, spec, report_dir)

    assert report.success, report.summary()
    assert report.suite == spec.data.expectation_suite == "churn_raw"
    assert report.rows == len(good_frame) == 1000
    assert report.failures == []
    assert report.evaluated_expectations == report.successful_expectations > 50
    report.raise_if_failed()  # no error
    stored = json.loads(report.report_path.read_text())
    assert stored["report"]["success"] is True
    statistics = stored["great_expectations"]["statistics"]
    assert statistics["evaluated_expectations"] == report.evaluated_expectations
    assert "PASSED" in report.summary_path.read_text()


def test_real_dataset_passes(spec: ModelSpec, settings: Settings, report_dir: Path) -> None:
    assert spec.data.real_dataset is not None
    path = (settings.root / spec.data.real_dataset).resolve()
    assert path.is_file(), f"the real churn file is expected at {path}"
    frame = coerce(read_table(path), spec)

    report = validate(frame, spec, report_dir)

    assert report.success, report.summary()
    assert report.rows == len(frame) > 5000
    # The IBM file has no support_contacts_90d: coerce adds it empty, and it must not count as missing data.
    assert frame["support_contacts_90d"].isna().all()


def test_bad_category_is_counted_with_examples(
    good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path
) -> None:
    good_frame.loc[:6, "PaymentMethod"] = "Bitcoin"
    good_frame.loc[7, "PaymentMethod"] = "Cash"

    failure = only_failure(validate(good_frame, spec, report_dir))

    assert (failure.check, failure.column) == ("allowed values", "PaymentMethod")
    assert failure.expectation == "expect_column_values_to_be_in_set"
    assert failure.unexpected_count == 8
    assert failure.unexpected_percent == pytest.approx(0.8)
    assert failure.examples == ["Bitcoin", "Cash"]  # most frequent first


def test_out_of_range_values_are_counted(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    good_frame.loc[:2, "MonthlyCharges"] = -5.0
    good_frame.loc[3:4, "MonthlyCharges"] = 9999.0

    failure = only_failure(validate(good_frame, spec, report_dir))

    assert (failure.check, failure.column) == ("value range", "MonthlyCharges")
    assert failure.unexpected_count == 5
    assert sorted(failure.examples) == [-5.0, 9999.0]


def test_duplicate_ids_are_counted(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    good_frame.loc[:2, "customerID"] = good_frame.loc[10, "customerID"]  # 4 rows share one id

    failure = only_failure(validate(good_frame, spec, report_dir))

    assert (failure.check, failure.column) == ("unique", "customerID")
    assert failure.unexpected_count == 4  # GX counts every row involved in a duplicate
    assert failure.personal and failure.examples == []


def test_nulls_in_required_columns_fail_and_nullable_columns_allow_them(
    good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path
) -> None:
    good_frame.loc[:5, "Contract"] = None
    good_frame.loc[10:14, "TotalCharges"] = np.nan  # nullable: allowed
    good_frame.loc[20:22, "support_contacts_90d"] = np.nan  # nullable: allowed

    failure = only_failure(validate(good_frame, spec, report_dir))

    assert (failure.check, failure.column) == ("not null", "Contract")
    assert failure.unexpected_count == 6
    assert failure.examples == []


def test_too_few_rows(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    report = validate(good_frame.head(50), spec, report_dir)

    failure = only_failure(report)
    assert failure.check == "row count" and failure.column is None
    assert failure.observed == "50"
    assert report.rows == 50
    assert "observed 50" in report.summary()


def test_missing_column_is_reported_once(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    report = validate(good_frame.drop(columns=["Contract"]), spec, report_dir)

    failure = only_failure(report)
    assert (failure.check, failure.column) == ("column present", "Contract")
    assert failure.error is not None and "missing" in failure.error
    # Its type, allowed-values and not-null checks could not run: GX counts them as unmet too.
    assert report.unsuccessful_expectations == 3


def test_wrong_types_are_detected(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    good_frame["tenure"] = good_frame["tenure"].map(lambda v: f"{v:.0f}")  # text, as in an uncoerced CSV
    good_frame["event_timestamp"] = good_frame["event_timestamp"].dt.tz_localize(None)  # naive

    report = validate(good_frame, spec, report_dir)

    failed = {(f.check, f.column) for f in report.failures}
    assert ("type", "tenure") in failed
    assert ("type", "event_timestamp") in failed
    tenure = next(f for f in report.failures if (f.check, f.column) == ("type", "tenure"))
    assert tenure.unexpected_count == 1000
    assert all(isinstance(v, str) for v in tenure.examples) and 0 < len(tenure.examples) <= 5


def test_overall_null_fraction(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    # 60% empty in one nullable column of 23: about 2.6% of all cells, over the 1% the spec allows.
    good_frame.loc[: int(0.6 * len(good_frame)) - 1, "TotalCharges"] = np.nan

    failure = only_failure(validate(good_frame, spec, report_dir))

    assert failure.check == "overall null fraction" and failure.column is None
    expected = good_frame[[c.name for c in spec.data.columns]].isna().to_numpy().mean()
    assert float(failure.observed) == pytest.approx(expected, rel=1e-3)
    assert float(failure.observed) > spec.data.max_null_fraction


def test_label_without_positive_class(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    good_frame["Churn"] = "No"

    failure = only_failure(validate(good_frame, spec, report_dir))

    assert (failure.check, failure.column) == ("positive label present", "Churn")


def test_bad_label_values(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    good_frame.loc[:3, "Churn"] = "maybe"

    failure = only_failure(validate(good_frame, spec, report_dir))

    assert (failure.check, failure.column, failure.unexpected_count) == ("allowed values", "Churn", 4)


def test_frames_to_score_need_no_label(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    frame = good_frame.drop(columns=[spec.data.label])

    assert not validate(frame, spec, report_dir).success
    assert validate(frame, spec, report_dir, require_label=False).success


def test_several_failures_each_counted(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    good_frame.loc[:1, "gender"] = "?"
    good_frame.loc[5:7, "tenure"] = 500.0
    good_frame.loc[9, "PaperlessBilling"] = None

    report = validate(good_frame, spec, report_dir)

    counts = {(f.check, f.column): f.unexpected_count for f in report.failures}
    assert counts == {
        ("allowed values", "gender"): 2,
        ("value range", "tenure"): 3,
        ("not null", "PaperlessBilling"): 1,
    }
    assert report.unsuccessful_expectations == 3
