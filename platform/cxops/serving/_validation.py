"""Check request rows against a model's declared inputs before any of them reach the model.

The model itself would accept almost anything (an unknown category silently becomes "missing"), so a
typo in a request would quietly change a score. Every problem is reported at once, each naming the
row, the field and what is allowed, so a client can fix a whole batch in one round trip.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cxops.errors import InvalidInputError
from cxops.specs import Column

__all__ = ["InputValidationError", "validate_columns", "validate_rows"]

_MAX_REPORTED = 20


class InputValidationError(InvalidInputError):
    """Rows that do not match the model's inputs; `problems` lists each one (row, field, message)."""

    def __init__(self, message: str, problems: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.problems = problems


def _allowed(col: Column) -> str:
    if col.type == "text":
        return f"text of {col.min_length or 1} to {col.max_length or 'any number of'} characters"
    if col.type == "category":
        return f"one of {col.categories}"
    bounds = []
    if col.min is not None:
        bounds.append(f">= {col.min:g}")
    if col.max is not None:
        bounds.append(f"<= {col.max:g}")
    kind = "an integer" if col.type == "integer" else "a number"
    return f"{kind} {' and '.join(bounds)}".strip()


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"


def _check_value(col: Column, value: Any) -> tuple[Any, str | None]:
    """The value as the model reads it, or the reason it is not acceptable."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if col.nullable:
            return None, None
        return None, f"is null but '{col.name}' is required; expected {_allowed(col)}"
    if col.type == "text":
        if not isinstance(value, str):
            return None, f"expected {_allowed(col)}; got {_describe(value)}"
        if not value.strip():
            return None, "is empty or blank; send the message text"
        if col.max_length is not None and len(value) > col.max_length:
            # The text itself is never echoed: messages carry personal data.
            return (
                None,
                f"has {len(value)} characters, over the limit of {col.max_length}; shorten or split it",
            )
        return value, None
    if col.type == "category":
        if not isinstance(value, str):
            return None, f"expected text, {_allowed(col)}; got {_describe(value)}"
        if value not in (col.categories or []):
            return None, f"unknown category {value!r}; expected {_allowed(col)}"
        return value, None
    # Booleans are ints in Python, but `true` for a charge or a tenure is always a client bug.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"expected {_allowed(col)}; got {_describe(value)}"
    if not math.isfinite(value):
        return None, f"expected a finite number, {_allowed(col)}; got {value!r}"
    if col.type == "integer" and not float(value).is_integer():
        return None, f"expected {_allowed(col)}; got the fraction {value!r}"
    if (col.min is not None and value < col.min) or (col.max is not None and value > col.max):
        return None, f"{value!r} is out of range; expected {_allowed(col)}"
    return float(value), None


def validate_rows(rows: Sequence[Any], inputs: Sequence[Column], model_name: str) -> pd.DataFrame:
    """A frame with one column per input (spec order), or `InputValidationError` listing every problem
    (see `validate_columns`)."""
    return pd.DataFrame(validate_columns(rows, inputs, model_name), columns=[c.name for c in inputs])


def validate_columns(rows: Sequence[Any], inputs: Sequence[Column], model_name: str) -> dict[str, list[Any]]:
    """Each input's values (spec order; numbers as float, missing as None), or `InputValidationError`
    listing every problem.

    Every input must be present in every row (nullable inputs may be null); fields the model does not
    read are rejected, so a misspelt field is reported rather than ignored.
    """
    known = {c.name for c in inputs}
    columns: dict[str, list[Any]] = {c.name: [] for c in inputs}
    problems: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append(
                {
                    "row": index,
                    "field": None,
                    "message": f"expected an object of feature values; got {_describe(row)}",
                }
            )
            continue
        unknown = sorted(str(k) for k in row if k not in known)
        if unknown:
            problems.append(
                {
                    "row": index,
                    "field": unknown[0],
                    "message": f"unknown fields {unknown}; model '{model_name}' reads only its inputs",
                }
            )
        for col in inputs:
            if col.name not in row:
                problems.append(
                    {
                        "row": index,
                        "field": col.name,
                        "message": f"missing; expected {_allowed(col)}"
                        + (" or null" if col.nullable else ""),
                    }
                )
                continue
            value, problem = _check_value(col, row[col.name])
            if problem:
                problems.append({"row": index, "field": col.name, "message": problem})
            columns[col.name].append(value)
    if problems:
        shown = "; ".join(
            f"row {p['row']}" + (f" field '{p['field']}'" if p["field"] else "") + f": {p['message']}"
            for p in problems[:_MAX_REPORTED]
        )
        more = f" (and {len(problems) - _MAX_REPORTED} more)" if len(problems) > _MAX_REPORTED else ""
        raise InputValidationError(
            f"invalid input for model '{model_name}': {len(problems)} problem(s): {shown}{more}", problems
        )
    return columns
