"""Erasure building blocks without Feast: all-or-nothing file rewrites, the request-log target, the registry
of targets. (Erasure and purges over real stores: tests/integration/test_gdpr_erasure.py.)"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from cxops.config import Settings
from cxops.governance import _rewrite, erasure
from cxops.governance._file_targets import RequestLogTarget, local_path
from cxops.governance._rewrite import rewrite_lines, rewrite_parquet
from cxops.governance.erasure import ErasureTarget, TrainingDataTarget, erasure_targets, register_target
from cxops.governance.errors import GovernanceInputError
from cxops.governance.retention import Cutoff

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _files(tmp_path: Path) -> list[Path]:
    paths = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.parquet"
        pd.DataFrame({"customer_pid": ["cx_1", "cx_2", "cx_3"], "n": [1, 2, 3]}).astype(
            {"customer_pid": "string"}
        ).to_parquet(path, index=False)
        paths.append(path)
    return paths


def _drop_cx_2(_: Path, table) -> np.ndarray:
    return np.asarray(table.column("customer_pid").to_pandas() == "cx_2")


def test_parquet_rows_are_removed_with_the_schema_kept(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    schema = pq.read_schema(paths[0])

    assert rewrite_parquet([*paths, tmp_path / "missing.parquet"], _drop_cx_2) == dict.fromkeys(paths, 1)

    for path in paths:
        assert pq.read_schema(path) == schema
        assert pd.read_parquet(path)["customer_pid"].tolist() == ["cx_1", "cx_3"]
    assert rewrite_parquet(paths, _drop_cx_2) == {}  # nothing left to remove


def test_a_dry_run_counts_and_changes_nothing(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    before = [p.read_bytes() for p in paths]

    assert rewrite_parquet(paths, _drop_cx_2, dry_run=True) == dict.fromkeys(paths, 1)

    assert [p.read_bytes() for p in paths] == before


def test_a_failed_write_leaves_every_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _files(tmp_path)
    before = [p.read_bytes() for p in paths]
    real, calls = _rewrite.pq.write_table, []

    def second_fails(table, where) -> None:
        calls.append(where)
        if len(calls) == 2:
            raise OSError("disk full")
        real(table, where)

    monkeypatch.setattr(_rewrite.pq, "write_table", second_fails)
    with pytest.raises(OSError, match="disk full"):
        rewrite_parquet(paths, _drop_cx_2)

    assert [p.read_bytes() for p in paths] == before  # the first file's new version was never put in place
    assert not list(tmp_path.glob("*.partial")) and len(calls) == 2


def test_lines_are_removed_from_each_file(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text("keep 1\ndrop\nkeep 2\n")

    assert rewrite_lines([path], lambda _, line: line.startswith("drop")) == {path: 1}

    assert path.read_text() == "keep 1\nkeep 2\n"


def _log(directory: Path) -> Path:
    path = directory / "serving" / "2026-06" / "churn.jsonl"
    path.parent.mkdir(parents=True)
    lines = [
        {"timestamp": (NOW - timedelta(days=100)).isoformat(), "customer_pid": "cx_old"},
        {"timestamp": (NOW - timedelta(days=10)).isoformat(), "customer_pid": "cx_new"},
        {"timestamp": (NOW - timedelta(days=200)).timestamp(), "batch": ["cx_new", "cx_other"]},  # epoch
        {"timestamp": "2025-01-01T00:00:00Z", "customer_pid": "cx_other"},
        {"customer_pid": "cx_undated"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json cx_new\n")
    return path


def test_request_logs_erase_every_line_naming_the_customer(tmp_path: Path) -> None:
    path = _log(tmp_path / "logs")
    target = RequestLogTarget(tmp_path / "logs")

    assert target.erase(["cx_new"]) == 3  # its own line, a batch that names it, an unparsable line

    assert "cx_new" not in path.read_text() and len(path.read_text().splitlines()) == 3
    assert RequestLogTarget(tmp_path / "absent").erase(["cx_new"]) == 0


def test_request_logs_purge_by_their_time_field(tmp_path: Path) -> None:
    path = _log(tmp_path / "logs")
    target = RequestLogTarget(tmp_path / "logs")
    cutoff = Cutoff("request_logs", "90 days", NOW - timedelta(days=90))

    assert target.purge(cutoff, dry_run=True) == 3
    assert target.purge(cutoff) == 3  # 100 and 200 days old (ISO, epoch), and 2025-01-01 (Z suffix)

    kept = path.read_text().splitlines()
    assert [json.loads(line).get("customer_pid") for line in kept[:2]] == ["cx_new", "cx_undated"]
    assert kept[2] == "not json cx_new"  # no time: never aged out
    assert target.purge(cutoff) == 0


class _Fake(ErasureTarget):
    store = "offline_features"

    def __init__(self, name: str) -> None:
        self.name = name

    def erase(self, pids: Collection[str]) -> int:
        return 0

    def purge(self, cutoff: Cutoff, *, dry_run: bool = False) -> int:
        return 0


class _FakeTraining(_Fake, TrainingDataTarget):
    def holders(self, pids: Collection[str]) -> dict[tuple[str, str], int]:
        return {}


@pytest.fixture
def factories(monkeypatch: pytest.MonkeyPatch) -> dict:
    saved: dict = {}
    monkeypatch.setattr(erasure, "_FACTORIES", saved)
    return saved


def test_targets_holding_training_data_come_last(factories: dict, tmp_path: Path) -> None:
    register_target("training", lambda s, r: [_FakeTraining("snapshots")])
    register_target("features", lambda s, r: [_Fake("offline"), _Fake("online")])

    targets = erasure_targets(Settings(home=tmp_path), registry=None)  # type: ignore[arg-type]

    assert [t.name for t in targets] == ["offline", "online", "snapshots"]
    assert erasure.registered_targets() == ["training", "features"]


def test_target_names_must_be_unique(factories: dict, tmp_path: Path) -> None:
    register_target("one", lambda s, r: [_Fake("logs")])
    register_target("two", lambda s, r: [_Fake("logs")])
    with pytest.raises(GovernanceInputError, match=r"targets \['logs'\] are registered twice"):
        erasure_targets(Settings(home=tmp_path), registry=None)  # type: ignore[arg-type]
    with pytest.raises(GovernanceInputError, match="needs a name and a callable"):
        register_target("", lambda s, r: [])


def test_the_built_in_targets_are_registered() -> None:
    assert erasure.registered_targets()[:3] == ["feast", "request_logs", "dataset_snapshots"]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/data/x.parquet", Path("/data/x.parquet")),
        ("file:///data/my%20x.parquet", Path("/data/my x.parquet")),
        ("s3://bucket/x.parquet", None),
    ],
)
def test_dataset_uris_name_local_files_only(uri: str, expected: Path | None) -> None:
    assert local_path(uri) == expected
