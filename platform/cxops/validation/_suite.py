"""The expectation suite a model spec describes (`spec.data`), as Great Expectations objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cxops.specs import Column, ModelSpec
from cxops.validation._text import DUPLICATE_COLUMN, HAS_PII_COLUMN, LANGUAGE_COLUMN, stripped_length_column

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite

__all__ = ["CHECKS", "NULL_FRACTION_COLUMN", "build_suite"]

NULL_FRACTION_COLUMN = "_cxops_null_fraction"
"""Per-row share of empty cells, added to the validated copy so that GX can check the overall null fraction
(the mean of this column) with a built-in expectation."""

# Short names of the checks, shown in reports next to the GX expectation type.
CHECKS = {
    "present": "column present",
    "rows": "row count",
    "type": "type",
    "range": "value range",
    "categories": "allowed values",
    "unique": "unique",
    "not_null": "not null",
    "positive_label": "positive label present",
    "null_fraction": "overall null fraction",
    "length": "text length",
    "not_blank": "not blank",
    "language": "language share",
    "duplicates": "duplicate share",
    "pii": "personal-data share",
    "labels": "label set",
}

# Numbers arrive as float64 after `coerce` (NaN for blanks); integer dtypes are accepted too.
_NUMERIC_TYPES = ["float64", "float32", "int64", "int32", "int16", "int8", "Int64Dtype", "Float64Dtype"]


def _meta(check: str, column: str | None, personal: bool, **extra: Any) -> dict[str, Any]:
    return {"cxops_check": check, "cxops_column": column, "cxops_personal": personal, **extra}


def _column_expectations(col: Column, personal: bool, *, check_categories: bool = True) -> list[Any]:
    import great_expectations.expectations as gxe

    meta = {key: _meta(key, col.name, personal) for key in CHECKS}
    out: list[Any] = [gxe.ExpectColumnToExist(column=col.name, meta=meta["present"])]
    if col.type in ("integer", "number"):
        out.append(
            gxe.ExpectColumnValuesToBeInTypeList(column=col.name, type_list=_NUMERIC_TYPES, meta=meta["type"])
        )
    elif col.type == "timestamp":
        # pandas' tz-aware dtype has `Timestamp` as its scalar type; naive datetimes fail on purpose.
        out.append(gxe.ExpectColumnValuesToBeOfType(column=col.name, type_="Timestamp", meta=meta["type"]))
    if col.min is not None or col.max is not None:
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=col.name, min_value=col.min, max_value=col.max, meta=meta["range"]
            )
        )
    if col.type == "text":
        if col.min_length is not None or col.max_length is not None:
            out.append(
                gxe.ExpectColumnValueLengthsToBeBetween(
                    column=col.name, min_value=col.min_length, max_value=col.max_length, meta=meta["length"]
                )
            )
        # Whitespace-only messages pass a length check yet say nothing; their stripped length shows them.
        out.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=stripped_length_column(col.name), min_value=1, meta=meta["not_blank"]
            )
        )
    if col.categories is not None and check_categories:
        out.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=col.name, value_set=list(col.categories), meta=meta["categories"]
            )
        )
    if col.unique:
        out.append(gxe.ExpectColumnValuesToBeUnique(column=col.name, meta=meta["unique"]))
    if not col.nullable:
        out.append(gxe.ExpectColumnValuesToNotBeNull(column=col.name, meta=meta["not_null"]))
    return out


def _text_expectations(spec: ModelSpec) -> list[Any]:
    """What a healthy batch of messages looks like (`spec.text`), on the derived columns of `_text`.

    These hold language codes, flags and counts, never text, so their results may show observed values.
    """
    import great_expectations.expectations as gxe

    text = spec.text
    assert text is not None
    return [
        # `mostly` is the share among rows with a known language: GX leaves missing values out of it.
        gxe.ExpectColumnValuesToBeInSet(
            column=LANGUAGE_COLUMN,
            value_set=list(text.languages),
            mostly=text.min_language_fraction,
            meta=_meta("language", text.column, False),
        ),
        gxe.ExpectColumnMeanToBeBetween(
            column=DUPLICATE_COLUMN,
            min_value=0.0,
            max_value=text.max_duplicate_fraction,
            meta=_meta("duplicates", text.column, False),
            notes="Share of messages that repeat an earlier message exactly.",
        ),
        gxe.ExpectColumnMeanToBeBetween(
            column=HAS_PII_COLUMN,
            min_value=0.0,
            max_value=text.max_pii_fraction,
            meta=_meta("pii", text.column, False),
            notes="Share of messages carrying an email, phone number, IBAN, card number or IP address.",
        ),
    ]


def build_suite(
    spec: ModelSpec,
    personal: set[str],
    *,
    require_label: bool = True,
    label_set: tuple[str, list[str]] | None = None,
) -> ExpectationSuite:
    """The suite `spec.data.expectation_suite`: every check of `spec.data`, one expectation each, and for
    text models the checks of `spec.text`.

    `personal` names the columns whose values must never be echoed; their expectations are tagged in
    `meta` so that results can be reduced to counts. Without `require_label` the label is not checked
    (frames to be scored carry none). `label_set` (name, labels), when given, replaces the label column's
    categories: all labels must be in it (see `_labels.label_set`).
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe

    data = spec.data
    expectations: list[Any] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=data.min_rows, meta=_meta("rows", None, False)),
    ]
    for col in data.columns:
        if col.name == data.label and not require_label:
            continue
        check_categories = not (col.name == data.label and label_set is not None)
        expectations.extend(
            _column_expectations(col, col.name in personal, check_categories=check_categories)
        )
    if require_label and label_set is not None:
        name, labels = label_set
        expectations.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=data.label,
                value_set=list(labels),
                meta=_meta("labels", data.label, data.label in personal, cxops_label_set=name),
            )
        )
    if require_label and data.positive_label is not None:
        # A training set whose label never takes the positive value cannot train a classifier.
        expectations.append(
            gxe.ExpectColumnDistinctValuesToContainSet(
                column=data.label,
                value_set=[data.positive_label],
                meta=_meta("positive_label", data.label, data.label in personal),
            )
        )
    expectations.append(
        gxe.ExpectColumnMeanToBeBetween(
            column=NULL_FRACTION_COLUMN,
            min_value=0.0,
            max_value=data.max_null_fraction,
            meta=_meta("null_fraction", None, False),
            notes="Share of empty cells over the spec's columns; nullable columns absent from the source "
            "(entirely empty) are not counted.",
        )
    )
    if spec.text is not None:
        expectations.extend(_text_expectations(spec))
    return gx.ExpectationSuite(
        name=data.expectation_suite, expectations=expectations, meta={"cxops_model": spec.name}
    )
