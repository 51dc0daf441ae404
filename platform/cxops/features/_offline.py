"""Parquet sources of the feature views: merged, de-duplicated writes that readers never see half done."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from cxops.features._types import Kind, typed

__all__ = ["merge_rows", "utc_timestamps"]


def utc_timestamps(values: pd.Series) -> pd.Series:
    """Timestamps as `datetime64[ns, UTC]` (naive values are taken as UTC), so merges and joins line up."""
    stamps = pd.to_datetime(values, utc=True)
    return stamps.astype("datetime64[ns, UTC]")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers of one file across processes (two pipelines ingesting at once)."""
    lock = path.with_name(f".{path.name}.lock")
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def merge_rows(
    path: Path, rows: pd.DataFrame, *, join_key: str, timestamp: str, kinds: dict[str, Kind]
) -> int:
    """Merge `rows` into the parquet file at `path`; returns the number of rows the file then holds.

    A row replaces the stored row with the same (join_key, timestamp), so ingesting twice is harmless.
    The file keeps exactly the columns of `rows`: columns it had that are no longer defined are dropped,
    new ones are empty for old rows. The new file replaces the old atomically.
    """
    columns = list(rows.columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        frames = []
        if path.exists():
            old = pd.read_parquet(path).reindex(columns=columns)
            old[timestamp] = utc_timestamps(old[timestamp])
            frames.append(typed(old, kinds))
        frames.append(rows)
        merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else rows
        merged = (
            merged.drop_duplicates(subset=[join_key, timestamp], keep="last")
            .sort_values([timestamp, join_key], kind="stable")
            .reset_index(drop=True)
        )
        tmp = path.with_name(f".{path.name}.partial")
        merged.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    return len(merged)
