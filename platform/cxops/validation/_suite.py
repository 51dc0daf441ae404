"""The expectation suite a model spec describes (`spec.data`), as Great Expectations objects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cxops.specs import Column, ModelSpec

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
}

# Numbers arrive as float64 after `coerce` (NaN for blanks); integer dtypes are accepted too.
_NUMERIC_TYPES = ["float64", "float32", "int64", "int32", "int16", "int8", "Int64Dtype", "Float64Dtype"]


def _meta(check: str, column: str | None, personal: bool) -> dict[str, Any]:
    return {"cxops_check": check, "cxops_column": column, "cxops_personal": personal}


def _column_expectations(col: Column, personal: bool) -> list[Any]:
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
    if col.categories is not None:
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


def build_suite(spec: ModelSpec, personal: set[str], *, require_label: bool = True) -> ExpectationSuite:
    """The suite `spec.data.expectation_suite`: every check of `spec.data`, one expectation each.

    `personal` names the columns whose values must never be echoed; their expectations are tagged in
    `meta` so that results can be reduced to counts. Without `require_label` the label is not checked
    (frames to be scored carry none).
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
        expectations.extend(_column_expectations(col, col.name in personal))
    if require_label:
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
    return gx.ExpectationSuite(
        name=data.expectation_suite, expectations=expectations, meta={"cxops_model": spec.name}
    )
