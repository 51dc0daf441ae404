"""Read raw files (CSV or parquet) and coerce them to the types a model spec declares."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cxops.errors import InvalidInputError, NotFoundError
from cxops.specs import ModelSpec

__all__ = ["coerce", "read_table", "write_table"]


def read_table(path: Path) -> pd.DataFrame:
    """CSV (values read as text, exactly as stored) or parquet."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"input file {path} does not exist")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    raise InvalidInputError(f"input file {path}: unsupported format '{path.suffix}'; use .csv or .parquet")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(tmp, index=False)
    elif path.suffix.lower() == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        raise InvalidInputError(
            f"output file {path}: unsupported format '{path.suffix}'; use .csv or .parquet"
        )
    tmp.replace(path)  # never leave a half-written output behind


def _parse_numbers(values: pd.Series) -> pd.Series:
    """Numbers as float; blank or unparseable text -> NaN. Most cells parse as they are; only the rest
    (padded or blank text) pays for string handling, which dominates on large files."""
    if values.dtype != object:
        return pd.to_numeric(values, errors="coerce").astype(float)
    if pd.api.types.infer_dtype(values, skipna=True) != "string":  # mixed objects: text of each value
        text = values.astype(str).str.strip()
        return pd.to_numeric(text.mask(text.eq("")), errors="coerce").astype(float)
    parsed = pd.to_numeric(values, errors="coerce").astype(float)
    retry = parsed.isna() & values.notna()
    if retry.any():
        text = values[retry].astype(str).str.strip()
        parsed[retry] = pd.to_numeric(text.mask(text.eq("")), errors="coerce").astype(float)
    return parsed


def coerce(
    raw: pd.DataFrame, spec: ModelSpec, *, require_label: bool = True, observed_at: datetime | None = None
) -> pd.DataFrame:
    """Typed copy of `raw`: numbers parsed (unparseable -> NaN, caught by validation), categories as text.

    Nullable columns the file lacks are added empty (the IBM file has no `support_contacts_90d`); a file
    without event timestamps is stamped with `observed_at` (default: now), the time it was ingested; a
    file without the entity key gets row numbers (`row-1`, `row-2`, ...). Columns named as in the real
    dataset (`data.real_dataset_columns`) are renamed to the spec's names.
    """
    renames = {
        k: v for k, v in spec.data.real_dataset_columns.items() if k in raw.columns and v not in raw.columns
    }
    frame = raw.rename(columns=renames)
    if spec.data.entity_key not in frame.columns:
        frame[spec.data.entity_key] = [f"row-{i}" for i in range(1, len(frame) + 1)]
    skip = set() if require_label else {spec.data.label}
    missing = [
        c.name
        for c in spec.data.columns
        if c.name not in frame.columns
        and not c.nullable
        and c.name not in skip
        and c.name != spec.data.timestamp
    ]
    if missing:
        raise InvalidInputError(
            f"model '{spec.name}': input lacks required columns {missing}; expected the raw schema "
            f"in models/{spec.name}/spec.yaml (data.columns)"
        )
    for col in spec.data.columns:
        if col.name in skip:
            continue
        if col.name not in frame.columns:
            if col.name == spec.data.timestamp:
                frame[col.name] = pd.Timestamp(observed_at or datetime.now(UTC))
            elif col.type in ("integer", "number"):
                frame[col.name] = np.nan
            else:
                frame[col.name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            continue
        values = frame[col.name]
        if col.type in ("integer", "number"):
            frame[col.name] = _parse_numbers(values)
        elif col.type == "timestamp":
            frame[col.name] = pd.to_datetime(values, utc=True, errors="coerce")
        else:
            frame[col.name] = values.astype(str).where(values.notna(), None)
            if col.nullable and values.dtype == object:
                # CSV files are read as text, so an absent value arrives as "": make it missing.
                frame[col.name] = frame[col.name].where(frame[col.name] != "", None)
    return frame
