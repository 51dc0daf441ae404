from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cxops.errors import CXOpsError, ValidationFailedError
from cxops.specs import ModelSpec
from cxops.validation import validate


def test_failed_validation_still_writes_its_artifacts(
    good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path
) -> None:
    good_frame.loc[:3, "Contract"] = "Forever"

    report = validate(good_frame, spec, report_dir)

    assert not report.success
    assert report.report_path == report_dir / "churn_raw.validation.json"
    assert report.summary_path == report_dir / "churn_raw.validation.md"
    stored = json.loads(report.report_path.read_text())
    assert stored["report"]["success"] is False
    assert stored["report"]["failures"][0]["unexpected_count"] == 4
    assert stored["great_expectations"]["success"] is False
    assert stored["great_expectations"]["suite_name"] == "churn_raw"
    markdown = report.summary_path.read_text()
    assert "**FAILED**" in markdown
    row = "| allowed values | Contract | expect_column_values_to_be_in_set | 4 (0.40%) | 'Forever' |"
    assert row in markdown
    assert not list(report_dir.glob(".*.partial"))


def test_summary_names_the_failed_checks_and_rows(
    good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path
) -> None:
    good_frame.loc[:3, "Contract"] = "Forever"
    good_frame.loc[:9, "MonthlyCharges"] = 1e6

    summary = validate(good_frame, spec, report_dir).summary()

    lines = summary.splitlines()
    assert lines[0] == (
        "dataset for model 'churn' fails expectation suite 'churn_raw': 2 of " + lines[0].split(" of ")[1]
    )
    assert "on 1,000 rows" in lines[0]
    row = next(line for line in lines if "Contract" in line)
    assert "allowed values" in row and "4 (0.40%)" in row and "'Forever'" in row
    row = next(line for line in lines if "MonthlyCharges" in line)
    assert "value range" in row and "10 (1.00%)" in row and "1000000.0" in row
    assert lines[-1] == f"report: {report_dir / 'churn_raw.validation.json'}"


def test_raise_if_failed(good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path) -> None:
    good_frame.loc[:3, "Contract"] = "Forever"
    report = validate(good_frame, spec, report_dir)

    with pytest.raises(ValidationFailedError) as caught:
        report.raise_if_failed()

    error = caught.value
    assert isinstance(error, CXOpsError) and error.status_code == 422
    assert report.summary() in str(error)
    assert str(report.report_path) in str(error)
    assert "models/churn/spec.yaml" in str(error)


def test_rejects_what_is_not_a_frame(spec: ModelSpec, report_dir: Path) -> None:
    from cxops.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="pandas DataFrame"):
        validate([{"customerID": "x"}], spec, report_dir)  # type: ignore[arg-type]


def test_importing_the_package_does_not_import_great_expectations() -> None:
    code = "import sys, cxops.validation; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
