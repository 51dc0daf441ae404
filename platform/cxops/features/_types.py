"""One mapping between spec column types, Feast types and pandas dtypes, used on every path.

Writing, point-in-time training frames and online reads all pass through `typed`, so a feature has the
same dtype wherever it is read: categories as Python str (None when missing), integers as pandas
nullable `Int64`, numbers as float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError
from cxops.specs import Column

if TYPE_CHECKING:
    from feast.types import FeastType

__all__ = ["Kind", "feast_type", "kind_of_feast_type", "typed"]

Kind = Literal["string", "integer", "number"]
_KIND_OF_COLUMN: dict[str, Kind] = {
    "category": "string",
    "string": "string",
    "integer": "integer",
    "number": "number",
}
_FEAST_NAME: dict[Kind, str] = {"string": "String", "integer": "Int64", "number": "Float64"}


def feast_type(column: Column) -> FeastType:
    """The Feast type that stores a spec column and reads back as the right Python type online."""
    from feast import types

    kind = _KIND_OF_COLUMN.get(column.type)
    if kind is None:
        raise InvalidInputError(
            f"feature '{column.name}' has type '{column.type}', which Feast features "
            f"cannot hold here; use one of {sorted(_KIND_OF_COLUMN)}"
        )
    return getattr(types, _FEAST_NAME[kind])


def kind_of_feast_type(name: str, dtype: FeastType) -> Kind:
    for kind, feast_name in _FEAST_NAME.items():
        if str(dtype) == feast_name:
            return kind
    raise InvalidInputError(
        f"feature '{name}' has Feast type {dtype}; CXOps stores only {', '.join(_FEAST_NAME.values())}"
    )


def kind_of_column(column: Column) -> Kind:
    return kind_of_feast_type(column.name, feast_type(column))


def typed(frame: pd.DataFrame, kinds: dict[str, Kind]) -> pd.DataFrame:
    """Copy of `frame` with each named column in its canonical dtype; missing values become None/NA/NaN."""
    out = frame.copy()
    for name, kind in kinds.items():
        values = out[name]
        if kind == "string":
            present = values.notna()
            out[name] = pd.Series(
                [str(v) if p else None for v, p in zip(values, present, strict=True)],
                index=values.index,
                dtype=object,
            )
            continue
        numbers = pd.to_numeric(values.astype(object).where(values.notna(), np.nan), errors="coerce")
        unparsed = int((numbers.isna() & values.notna()).sum())
        if unparsed:
            raise InvalidInputError(f"feature '{name}' has {unparsed} value(s) that are not numbers")
        numbers = numbers.astype(float)
        if kind == "integer":
            fractional = int((numbers.notna() & (numbers != numbers.round())).sum())
            if fractional:
                raise InvalidInputError(
                    f"feature '{name}' is an integer feature but has {fractional} fractional value(s)"
                )
            out[name] = numbers.round().astype("Int64")
        else:
            out[name] = numbers.astype("float64")
    return out
