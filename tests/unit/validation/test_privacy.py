"""Values of personal-data columns must never leave `validate`: not in the artifact, summary or error."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from cxops.errors import ValidationFailedError
from cxops.specs import ModelSpec
from cxops.validation import ValidationReport, personal_columns, validate

_CUSTOMER_ID = re.compile(r"\d{4}-[A-Z]{5}")


def everything_written(report: ValidationReport) -> str:
    with pytest.raises(ValidationFailedError) as caught:
        report.raise_if_failed()
    return "\n".join(
        [
            report.report_path.read_text(),
            report.summary_path.read_text(),
            report.summary(),
            str(caught.value),
            report.model_dump_json(),
        ]
    )


def test_entity_key_is_personal(spec: ModelSpec) -> None:
    assert personal_columns(spec) == {"customerID"}


def test_duplicated_and_missing_ids_are_never_echoed(
    good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path
) -> None:
    duplicated = good_frame.loc[10, "customerID"]
    good_frame.loc[:2, "customerID"] = duplicated
    good_frame.loc[20:21, "customerID"] = None
    good_frame.loc[30, "gender"] = "X"  # a non-personal failure next to them still shows its example
    good_frame.index = good_frame["customerID"].fillna("none")  # not even through row labels

    report = validate(good_frame, spec, report_dir)

    failures = {(f.check, f.column): f for f in report.failures}
    assert failures[("unique", "customerID")].unexpected_count == 4
    assert failures[("not null", "customerID")].unexpected_count == 2
    assert failures[("allowed values", "gender")].examples == ["X"]
    text = everything_written(report)
    assert duplicated not in text
    assert _CUSTOMER_ID.search(text) is None, _CUSTOMER_ID.search(text)
    assert "withheld (personal data)" in report.summary()


def test_pseudonymised_fields_of_the_spec_are_withheld(
    good_frame: pd.DataFrame, spec: ModelSpec, report_dir: Path
) -> None:
    privacy = spec.privacy.model_copy(update={"pseudonymised_fields": ["customerID", "PaymentMethod"]})
    stricter = spec.model_copy(update={"privacy": privacy})
    good_frame.loc[:2, "PaymentMethod"] = "IBAN DE89370400440532013000"

    report = validate(good_frame, stricter, report_dir)

    failure = report.failures[0]
    assert (failure.column, failure.unexpected_count, failure.examples) == ("PaymentMethod", 3, [])
    assert "DE89370400440532013000" not in everything_written(report)
    # The same data under the churn spec (PaymentMethod not personal) does show the offending value.
    assert validate(good_frame, spec, report_dir).failures[0].examples == ["IBAN DE89370400440532013000"]
