"""Erasure targets kept as plain files: raw dataset snapshots (parquet) and request logs (JSON lines)."""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from cxops.config import Settings
from cxops.errors import CXOpsError
from cxops.governance._rewrite import rewrite_lines, rewrite_parquet
from cxops.governance.erasure import SUBJECT_KEY, ErasureTarget, TrainingDataTarget
from cxops.governance.errors import GovernanceError
from cxops.governance.retention import Cutoff
from cxops.privacy import pseudonymise
from cxops.registry import Registry
from cxops.registry._schema import Dataset
from cxops.specs import ModelSpec, load_spec

__all__ = ["DatasetSnapshotTarget", "RequestLogTarget", "local_path"]

log = logging.getLogger(__name__)

_TIMESTAMP = "event_timestamp"
_RAW_ID = "customerID"
"""The raw customer id column of snapshots whose model spec is gone (every shipped spec names it)."""


def _older(values: pd.Series, before: datetime) -> np.ndarray:
    """Rows whose time is known and earlier than `before` (naive times are UTC)."""
    stamps = pd.to_datetime(values, utc=True, errors="coerce")
    return (stamps < pd.Timestamp(before).tz_convert(UTC)).fillna(False).to_numpy(dtype=bool)


def local_path(uri: str) -> Path | None:
    """The file a dataset URI names on this machine (a plain path or file://), None for a remote one."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "":
        return Path(uri)
    return None


@dataclass(frozen=True)
class _Snapshot:
    model: str
    version: str
    path: Path


class DatasetSnapshotTarget(TrainingDataTarget):
    """The raw rows of each dataset snapshot (`cxops.data.snapshot`), under the datasets directory or
    wherever the registry's `datasets` rows point.

    Snapshots keep the raw customer id (the model spec's `privacy.pseudonymised_fields`), so each stored id
    is pseudonymised with the installation's key and compared with the pseudonyms asked for: the raw id
    of the customer never reaches this target. A rewritten snapshot keeps its file name, the dataset
    version models refer to, although its content no longer hashes to it."""

    name = "dataset_snapshots"
    store = "dataset_snapshots"

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self._specs: dict[str, ModelSpec | None] = {}

    def _spec(self, model: str) -> ModelSpec | None:
        if model not in self._specs:
            try:
                self._specs[model] = load_spec(model, self.settings)
            except (CXOpsError, OSError):
                self._specs[model] = None
        return self._specs[model]

    def snapshots(self) -> list[_Snapshot]:
        """Registered snapshots, then files in the datasets directory that no registry row points at."""
        with self.registry.reading() as session:
            rows = session.execute(sa.select(Dataset.model, Dataset.version, Dataset.uri)).all()
        found: dict[Path, _Snapshot] = {}
        for model, version, uri in rows:
            local = local_path(uri)
            if local is None:
                raise GovernanceError(
                    f"dataset {version!r} of model {model!r} lives at {uri}, outside this installation; "
                    "only local snapshots can be erased and purged here: copy it under "
                    f"{self.settings.datasets_dir} and update its registry row, or remove it there",
                    status_code=409,
                )
            path = local.resolve()
            found.setdefault(path, _Snapshot(model, version, path))
        for path in sorted(self.settings.datasets_dir.glob("*/*.parquet")):
            found.setdefault(path.resolve(), _Snapshot(path.parent.name, path.stem, path.resolve()))
        return list(found.values())

    def _subject_rows(self, snapshot: _Snapshot, table: pa.Table, pids: Collection[str]) -> np.ndarray:
        spec = self._spec(snapshot.model)
        raw = list(spec.privacy.pseudonymised_fields) if spec else [_RAW_ID]
        keyed = [SUBJECT_KEY] + ([spec.features.join_key] if spec and spec.features else [])
        wanted = set(pids)
        mask = np.zeros(table.num_rows, dtype=bool)
        key = self.settings.pseudonym_key_bytes()
        for column in dict.fromkeys(raw):
            if column not in table.column_names:
                continue
            values = table.column(column).to_pandas().astype("string")
            present = values.dropna()
            present = present[present != ""]
            matches = {v for v in present.unique() if pseudonymise(str(v), key) in wanted}
            mask |= values.isin(matches).fillna(False).to_numpy(dtype=bool)
        for column in dict.fromkeys(keyed):
            if column in table.column_names:
                mask |= (
                    table.column(column)
                    .to_pandas()
                    .astype("string")
                    .isin(wanted)
                    .fillna(False)
                    .to_numpy(dtype=bool)
                )
        return mask

    def _by_path(self) -> dict[Path, _Snapshot]:
        return {s.path: s for s in self.snapshots()}

    def holders(self, pids: Collection[str]) -> dict[tuple[str, str], int]:
        snapshots = self._by_path()
        counts = rewrite_parquet(
            snapshots, lambda path, table: self._subject_rows(snapshots[path], table, pids), dry_run=True
        )
        return {(snapshots[p].model, snapshots[p].version): n for p, n in counts.items()}

    def erase(self, pids: Collection[str]) -> int:
        snapshots = self._by_path()
        counts = rewrite_parquet(
            snapshots, lambda path, table: self._subject_rows(snapshots[path], table, pids)
        )
        return sum(counts.values())

    def purge(self, cutoff: Cutoff, *, dry_run: bool = False) -> int:
        snapshots = self._by_path()

        def expired(path: Path, table: pa.Table) -> np.ndarray:
            spec = self._spec(snapshots[path].model)
            column = spec.data.timestamp if spec else _TIMESTAMP
            if column not in table.column_names:
                log.warning(
                    "snapshot %s has no '%s' column: its rows cannot be aged, none purged", path, column
                )
                return np.zeros(table.num_rows, dtype=bool)
            return _older(table.column(column).to_pandas(), cutoff.before)

        return sum(rewrite_parquet(snapshots, expired, dry_run=dry_run).values())


class RequestLogTarget(ErasureTarget):
    """JSON-lines request logs (`*.jsonl`, any depth) under one directory: one request per line.

    A line goes on erasure when it holds one of the pseudonyms anywhere (pseudonyms are long random-looking
    tokens, so a match is the customer's), and on purge when its `time_field` (ISO 8601, or seconds since
    the epoch) is before the cutoff. Writers of these files take the same per-file lock as the rewrite
    (`cxops.features._offline`), or append only to files that are no longer rewritten."""

    name = "request_logs"
    store = "request_logs"

    def __init__(self, directory: Path, *, time_field: str = "timestamp") -> None:
        self.directory = Path(directory)
        self.time_field = time_field

    def files(self) -> list[Path]:
        return sorted(self.directory.rglob("*.jsonl")) if self.directory.is_dir() else []

    def erase(self, pids: Collection[str]) -> int:
        wanted = [p for p in pids if p]
        return sum(rewrite_lines(self.files(), lambda _, line: any(p in line for p in wanted)).values())

    def _time(self, line: str) -> datetime | None:
        try:
            value = json.loads(line).get(self.time_field)
        except (ValueError, AttributeError):
            return None
        try:
            if isinstance(value, int | float) and not isinstance(value, bool):
                return datetime.fromtimestamp(value, UTC)
            if isinstance(value, str):
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except (ValueError, OverflowError, OSError):
            return None
        return None

    def purge(self, cutoff: Cutoff, *, dry_run: bool = False) -> int:
        def expired(_: Path, line: str) -> bool:
            moment = self._time(line)
            return moment is not None and moment < cutoff.before

        return sum(rewrite_lines(self.files(), expired, dry_run=dry_run).values())
