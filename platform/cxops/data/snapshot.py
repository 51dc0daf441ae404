"""Content-addressed dataset snapshots: the hash of a dataset's content is its version."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["DatasetSnapshot", "content_hash", "snapshot"]


@dataclass(frozen=True)
class DatasetSnapshot:
    model: str
    version: str
    """sha256 of the content (first 16 hex digits): the same rows and columns always give the same version."""
    path: Path
    rows: int
    source: str


def content_hash(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update("\x1f".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def snapshot(frame: pd.DataFrame, model: str, directory: Path, source: str) -> DatasetSnapshot:
    """Write `frame` once as parquet under `directory/model/<version>.parquet` (idempotent)."""
    version = content_hash(frame)[:16]
    path = Path(directory) / model / f"{version}.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    return DatasetSnapshot(model=model, version=version, path=path, rows=len(frame), source=source)
